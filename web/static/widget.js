// Secure Input Gateway chat widget loader.
// Embed: <script src="https://GATEWAY/widget.js" data-service="support" async></script>
// Optional: data-title, data-greeting, data-color="#0a7d4f", data-position="left",
// data-lang="fr" (docs/chat.md#embedding-the-widget).
// Visitor attributes the website's server signed: data-attributes (a JSON
// object of strings), data-attributes-expires, data-attributes-signature, or
// later SecureInputGateway.identify(attributes, expires, signature)
// (docs/chat.md#form-attributes).
//
// It adds a launcher button and the chat in an iframe served from the
// gateway's own origin, so scripts on the host page cannot read what the
// visitor types. The iframe and this page talk by postMessage, and only in
// small, fixed messages: open, close, the number of unread messages and
// the visitor's signed attributes.
// No conversation exists until the visitor opens the chat (chat.js).
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) {
    var all = document.querySelectorAll('script[src*="widget.js"]');
    script = all[all.length - 1];
  }
  if (!script || window.__secureInputGateway) return;
  window.__secureInputGateway = true;
  var origin = new URL(script.src, location.href).origin;
  function attr(name, max) { return (script.getAttribute(name) || "").slice(0, max); }
  var service = attr("data-service", 100) || "support";
  var color = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(attr("data-color", 7)) ? attr("data-color", 7) : "#1f5fbf";
  var left = attr("data-position", 10) === "left";
  var lang = attr("data-lang", 10) || document.documentElement.lang || navigator.language || "en";

  var words = {
    en: ["Chat with us", "Close chat", "{n} unread"], fr: ["Discutons", "Fermer la discussion", "{n} non lus"],
    de: ["Chatten Sie mit uns", "Chat schließen", "{n} ungelesen"], es: ["Chatea con nosotros", "Cerrar el chat", "{n} sin leer"]
  };
  var w = words[lang.toLowerCase().slice(0, 2)] || words.en;
  var label = attr("data-title", 60) || w[0];

  var frame = document.createElement("iframe");
  frame.id = "sig-chat-frame";
  frame.title = label;
  var q = new URLSearchParams({ service: service, lang: lang, color: color, embedded: "1",
    page: location.origin + location.pathname });
  if (attr("data-title", 60)) q.set("title", attr("data-title", 60));
  if (attr("data-greeting", 300)) q.set("greeting", attr("data-greeting", 300));
  // identity holds the signed attributes until the chat is ready for them.
  var identity = null;
  function readAttributes(raw, expires, signature) {
    var a = raw;
    if (typeof a === "string") { try { a = JSON.parse(a); } catch (e) { a = null; } }
    if (!a || typeof a !== "object" || Array.isArray(a)) return null;
    var out = {}, n = 0;
    Object.keys(a).slice(0, 64).forEach(function (k) {
      if (typeof a[k] === "string" || typeof a[k] === "number") { out[String(k).slice(0, 64)] = String(a[k]).slice(0, 1024); n++; }
    });
    if (!n) return null;
    return { attributes: out, expires: Number(expires) || 0, signature: String(signature || "").slice(0, 128) };
  }
  if (script.getAttribute("data-attributes")) {
    identity = readAttributes(script.getAttribute("data-attributes"), attr("data-attributes-expires", 20), attr("data-attributes-signature", 128));
  }
  frame.src = origin + "/chat/?" + q.toString();
  frame.setAttribute("allow", "");
  frame.hidden = true;

  var button = document.createElement("button");
  button.id = "sig-launcher";
  button.type = "button";
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", frame.id);
  var icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("aria-hidden", "true");
  icon.setAttribute("focusable", "false");
  icon.style.cssText = "width:22px;height:22px;flex:none";
  var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
  icon.appendChild(path);
  var text = document.createElement("span");
  text.id = "sig-launcher-label";
  var badge = document.createElement("span");
  badge.id = "sig-unread";
  badge.hidden = true;
  button.appendChild(icon); button.appendChild(text); button.appendChild(badge);

  // Text on the brand colour: black or white, whichever contrasts more.
  function onColor(hex) {
    if (hex.length === 4) hex = "#" + hex[1] + hex[1] + hex[2] + hex[2] + hex[3] + hex[3];
    var c = [1, 3, 5].map(function (i) {
      var v = parseInt(hex.slice(i, i + 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    var l = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    return (l + 0.05) / 0.05 > 1.05 / (l + 0.05) ? "#111111" : "#ffffff";
  }
  var side = left ? "left" : "right";
  button.style.cssText = "position:fixed;bottom:20px;" + side + ":20px;display:inline-flex;align-items:center;gap:8px;" +
    "min-height:48px;padding:12px 20px;border:0;border-radius:28px;box-shadow:0 6px 20px rgba(16,24,40,.25);cursor:pointer;" +
    "font:600 15px/1.2 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;z-index:2147483647;" +
    "background:" + color + ";color:" + onColor(color);
  badge.style.cssText = "display:inline-flex;align-items:center;justify-content:center;min-width:22px;height:22px;padding:0 6px;" +
    "border-radius:11px;background:#b3261e;color:#fff;font-size:12px;font-weight:700";

  var open = false, unread = 0;
  var phone = window.matchMedia("(max-width: 480px)");
  function layout() {
    var s = "position:fixed;z-index:2147483646;border:0;background:#fff;color-scheme:light;";
    if (phone.matches) {
      // Full screen on phones; the chat's own header has the close button.
      s += "inset:0;width:100%;height:100%;max-width:100vw;border-radius:0;";
    } else {
      s += "bottom:84px;" + side + ":20px;width:380px;height:min(640px,calc(100vh - 104px));max-width:calc(100vw - 40px);" +
        "border-radius:16px;box-shadow:0 12px 40px rgba(16,24,40,.28);";
    }
    frame.style.cssText = s;
    frame.hidden = !open;
    button.style.display = open && phone.matches ? "none" : "inline-flex";
  }
  function render() {
    text.textContent = open ? w[1] : label;
    button.setAttribute("aria-expanded", String(open));
    badge.hidden = open || unread === 0;
    badge.textContent = unread ? String(unread) : "";
    button.setAttribute("aria-label", (open ? w[1] : label) + (!open && unread ? ", " + w[2].replace("{n}", unread) : ""));
    layout();
  }
  function tell(type) {
    if (frame.contentWindow) frame.contentWindow.postMessage({ sig: type }, origin);
  }
  function tellIdentity() {
    if (identity && frame.contentWindow) {
      frame.contentWindow.postMessage({ sig: "identify", attributes: identity.attributes, expires: identity.expires,
        signature: identity.signature }, origin);
    }
  }
  window.SecureInputGateway = {
    // identify attaches attributes the website's server signed to the
    // visitor's next conversation.
    identify: function (attributes, expires, signature) {
      identity = readAttributes(attributes, expires, signature);
      tellIdentity();
    }
  };
  function setOpen(v, focusBack) {
    open = v;
    if (open) unread = 0;
    render();
    tell(open ? "open" : "close");
    if (open) frame.focus();
    else if (focusBack) button.focus();
    try { sessionStorage.setItem("sig-open", open ? "1" : "0"); } catch (e) { /* storage blocked */ }
  }
  button.addEventListener("click", function () { setOpen(!open, true); });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && open) setOpen(false, true);
  });
  window.addEventListener("message", function (ev) {
    if (ev.origin !== origin || ev.source !== frame.contentWindow || !ev.data) return;
    switch (ev.data.sig) {
      case "close": setOpen(false, true); break;
      case "ready": tellIdentity(); tell(open ? "open" : "close"); break;
      case "unread":
        unread = Math.max(0, Math.min(999, Number(ev.data.count) || 0));
        if (open) unread = 0;
        render();
        break;
    }
  });
  if (phone.addEventListener) phone.addEventListener("change", layout);

  function mount() {
    document.body.appendChild(frame);
    document.body.appendChild(button);
    render();
    // Reopen after a reload if the visitor had the chat open.
    try { if (sessionStorage.getItem("sig-open") === "1") setOpen(true, false); } catch (e) { /* storage blocked */ }
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
