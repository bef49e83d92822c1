// Secure Input Gateway chat widget loader.
// Embed: <script src="https://GATEWAY/widget.js" data-service="support" async></script>
// It adds a launcher button and opens the chat in an iframe served from the
// gateway's own origin, so scripts on the host page cannot read what the
// visitor types.
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
  var service = script.getAttribute("data-service") || "support";
  var title = script.getAttribute("data-title") || "Chat with us";

  var frame = document.createElement("iframe");
  frame.id = "sig-chat-frame";
  frame.title = title;
  frame.src = origin + "/chat/?service=" + encodeURIComponent(service);
  frame.setAttribute("allow", "");
  frame.style.cssText = "position:fixed;bottom:90px;right:20px;width:360px;height:520px;max-height:80vh;" +
    "border:1px solid #ccd;border-radius:12px;box-shadow:0 8px 24px rgba(0,0,0,.2);background:#fff;" +
    "z-index:2147483646;display:none";

  var button = document.createElement("button");
  button.id = "sig-launcher";
  button.type = "button";
  button.textContent = title;
  button.setAttribute("aria-expanded", "false");
  button.style.cssText = "position:fixed;bottom:20px;right:20px;padding:14px 20px;border:0;border-radius:28px;" +
    "background:#1f5fbf;color:#fff;font:600 15px system-ui,sans-serif;cursor:pointer;z-index:2147483647";
  button.addEventListener("click", function () {
    var open = frame.style.display === "none";
    frame.style.display = open ? "block" : "none";
    button.setAttribute("aria-expanded", String(open));
  });

  function mount() {
    document.body.appendChild(frame);
    document.body.appendChild(button);
    // Reopen after a reload if the visitor had the chat open.
    try {
      if (sessionStorage.getItem("sig-open") === "1") button.click();
      button.addEventListener("click", function () {
        sessionStorage.setItem("sig-open", frame.style.display === "none" ? "0" : "1");
      });
    } catch (e) { /* storage blocked */ }
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
