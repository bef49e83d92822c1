// The visitor's side of the chat, inside the widget iframe (gateway origin).
// Protocol: docs/protocol.md. It keeps {conversation, token} in localStorage
// so a reload or a dropped connection resumes the same conversation; frames
// are applied once each, by seq.
//
// No conversation is created on a page view: the iframe loads with the
// page, but it opens a conversation only when the visitor opens the chat
// while someone answers, or sends a first message (a message left while no
// agent is available). A saved conversation is resumed at once, so its
// unread count reaches the launcher.
(function () {
  "use strict";
  var T = window.SIG_I18N;
  var params = new URLSearchParams(location.search);
  var service = params.get("service") || "support";
  var embedded = params.get("embedded") === "1" && window.parent !== window;
  var page = (params.get("page") || "").slice(0, 800);
  var identity = null; // the website's signed visitor attributes (widget.js)
  var key = "sig-conversation:" + service;
  var saved = null;
  try { saved = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { saved = null; }
  T.use([params.get("lang"), navigator.language]);
  document.documentElement.lang = T.lang();

  var $ = function (id) { return document.getElementById(id); };
  var list = $("messages"), input = $("input"), scroller = $("scroller"), typingEl = $("typing");
  var lastSeq = 0;           // highest history seq applied
  var pending = {};          // client_id -> {text, el}
  var ws = null, retry = 500, typingTimer = null, typingSent = false, resumeTo = null;
  var state = "idle";        // idle (no conversation yet), waiting, active, ended
  var place = 0, agentName = "", connecting = false;
  var status = { title: "", greeting: "", available: true, open: true, known: false };
  var isOpen = !embedded, unread = 0;
  var timeFormat = new Intl.DateTimeFormat(T.lang(), { hour: "2-digit", minute: "2-digit" });

  // Theming from the script tag: the colour, and text on it that contrasts.
  var color = params.get("color") || "";
  if (/^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(color)) {
    var hex = color.length === 4 ? "#" + color[1] + color[1] + color[2] + color[2] + color[3] + color[3] : color;
    var lum = [1, 3, 5].map(function (i) {
      var v = parseInt(hex.slice(i, i + 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    var l = 0.2126 * lum[0] + 0.7152 * lum[1] + 0.0722 * lum[2];
    document.documentElement.style.setProperty("--brand", hex);
    document.documentElement.style.setProperty("--on-brand", (l + 0.05) / 0.05 > 1.05 / (l + 0.05) ? "#111111" : "#ffffff");
  }

  function initials(name) {
    var parts = String(name || "").trim().split(/\s+/).filter(Boolean);
    if (!parts.length) return "";
    var s = Array.from(parts[0])[0] + (parts.length > 1 ? Array.from(parts[parts.length - 1])[0] : "");
    return s.toUpperCase();
  }
  function title() { return params.get("title") || status.title || T.t("title"); }

  // render brings every part of the page that depends on the state up to date.
  function render() {
    $("title").textContent = title();
    document.title = title();
    // The agent's initials once one has joined; before, the service's first letter.
    $("head-avatar").textContent = state === "active" && agentName ? initials(agentName) : initials(title()).slice(0, 1);
    $("greeting").textContent = params.get("greeting") || status.greeting || T.t("greeting");
    var s;
    if (connecting && state === "idle") s = T.t("connecting");
    else if (state === "ended") s = T.t("endedStatus");
    else if (ws && ws.readyState !== 1 && state !== "idle") s = T.t("reconnecting");
    else if (state === "active") s = T.t("chattingWith", { name: agentName || T.t("agent") });
    else if (state === "waiting") s = place > 1 ? T.t("place", { n: place }) : place === 1 ? T.t("next") : T.t("waiting");
    else s = status.available ? T.t("online") : T.t("offline");
    $("status").textContent = s;
    var offline = status.known && !status.available && (state === "idle" || state === "waiting");
    var notice = $("notice");
    notice.hidden = !offline;
    if (offline) {
      notice.textContent = "";
      var strong = document.createElement("strong");
      strong.textContent = T.t("offline");
      notice.appendChild(strong);
      notice.appendChild(document.createTextNode((status.open ? T.t("nobody") : T.t("closedHours")) + " " + T.t("leave")));
    }
    var ended = state === "ended";
    input.disabled = ended;
    $("send").disabled = ended;
    input.placeholder = ended ? T.t("ended") : offline ? T.t("leavePlaceholder") : T.t("placeholder");
    $("end").textContent = ended ? T.t("newChat") : T.t("end");
    $("end").hidden = state === "idle";
    if (ended) typingEl.textContent = "";
  }

  function save(conv, token) {
    saved = { conversation: conv, token: token };
    try { localStorage.setItem(key, JSON.stringify(saved)); } catch (e) { /* private mode */ }
  }

  // scrollDown shows the newest message; with a secure form open, the
  // newest message stays at the top of the view and the form below it.
  function scrollDown() {
    var form = $("secure-form");
    if (form.hidden) { scroller.scrollTop = scroller.scrollHeight; return; }
    var msgs = list.querySelectorAll(".msg");
    var last = msgs.length ? msgs[msgs.length - 1] : null;
    scroller.scrollTop = last ? Math.max(0, last.offsetTop - scroller.offsetTop - 8) : 0;
  }

  function system(text, seq, cls) {
    var li = document.createElement("li");
    li.className = "system" + (cls ? " " + cls : "");
    li.dataset.seq = seq;
    li.textContent = text;
    list.appendChild(li);
    scrollDown();
  }

  function meta(el, f) {
    var m = el.querySelector(".meta");
    m.textContent = "";
    var who = f.from === "visitor" ? T.t("you") : (f.name || T.t("agent"));
    m.appendChild(document.createTextNode(who + " · "));
    var time = document.createElement("time");
    var at = f.at ? new Date(f.at) : new Date();
    time.dateTime = at.toISOString();
    time.textContent = timeFormat.format(at);
    m.appendChild(time);
    if (f.from === "visitor") {
      var st = document.createElement("span");
      st.className = "delivery";
      st.textContent = " · " + T.t(el.dataset.state === "failed" ? "failed" : el.dataset.state === "sending" ? "sending" : "delivered");
      m.appendChild(st);
    }
  }

  function bubble(from) {
    var li = document.createElement("li");
    li.className = "msg " + from;
    if (from === "agent") {
      var av = document.createElement("span");
      av.className = "avatar";
      av.setAttribute("aria-hidden", "true");
      li.appendChild(av);
    }
    var body = document.createElement("div");
    body.className = "body";
    var b = document.createElement("div");
    b.className = "bubble";
    var m = document.createElement("div");
    m.className = "meta";
    body.appendChild(b); body.appendChild(m);
    li.appendChild(body);
    return li;
  }

  function showMessage(f, live) {
    var el = f.client_id && pending[f.client_id] ? pending[f.client_id].el : bubble(f.from);
    if (f.client_id) delete pending[f.client_id];
    el.classList.remove("pending");
    el.dataset.id = f.id;
    el.dataset.seq = f.seq;
    el.dataset.state = "delivered";
    el.querySelector(".bubble").textContent = f.text;
    var av = el.querySelector(".avatar");
    if (av) av.textContent = initials(f.name || T.t("agent"));
    meta(el, f);
    if (!el.parentNode) list.appendChild(el);
    if (f.from === "agent") {
      typingEl.textContent = "";
      if (live && !isOpen) { unread++; tellUnread(); }
    }
    scrollDown();
  }

  function apply(f) {
    if (f.seq && f.seq <= lastSeq && isHistory(f.type)) return; // seen already
    var live = resumeTo === null;
    if (f.type === "form") typingEl.textContent = "";
    if (SecureForm.handle(f)) return;
    switch (f.type) {
      case "welcome":
        if (f.token) save(f.conversation, f.token);
        state = f.state || "waiting";
        place = f.position || 0;
        render();
        return;
      case "queue_position": place = f.position || 0; render(); return;
      case "waiting": state = "waiting"; system(T.t("waiting"), f.seq); break;
      case "agent_joined":
        state = "active"; agentName = f.name || T.t("agent"); place = 0;
        system(T.t("joined", { name: agentName }), f.seq);
        break;
      case "agent_left": system(T.t("left", { name: f.name || T.t("agent") }), f.seq); agentName = ""; break;
      case "message": showMessage(f, live); break;
      case "message_update":
        var el = list.querySelector('.msg[data-id="' + f.id + '"] .bubble');
        if (el) el.textContent = f.text;
        break;
      case "ended": state = "ended"; system(T.t("ended"), f.seq); SecureForm.close(); break;
      case "secure_input": system(f.text, f.seq, "secure"); break;
      case "redaction": break; // the agent's transcript notes it; nothing to show here
      case "typing":
        if (f.from === "agent") typingEl.textContent = f.active && state !== "ended" ? T.t("typing", { name: agentName || T.t("agent") }) : "";
        return;
      case "undelivered":
        var p = pending[f.client_id];
        if (p) {
          p.el.classList.remove("pending"); p.el.classList.add("failed"); p.el.dataset.state = "failed";
          meta(p.el, { from: "visitor" });
          delete pending[f.client_id];
        }
        system(T.t("undelivered"), 0);
        return;
      case "error":
        if (f.code === "not_found") { try { localStorage.removeItem(key); } catch (e) { /* private mode */ } saved = null; }
        if (f.code === "ended") { state = "ended"; render(); return; }
        system(T.t("error", { message: f.message || f.code }), 0);
        return;
      default: return; // frame types added later are ignored
    }
    if (f.seq > lastSeq) lastSeq = f.seq;
    render();
  }

  function isHistory(t) {
    return t === "waiting" || t === "agent_joined" || t === "agent_left" || t === "message" ||
      t === "message_update" || t === "ended" || t === "secure_input" || t === "redaction";
  }

  // connect opens the socket: resuming the saved conversation, or opening
  // a new one.
  function connect() {
    if (ws && ws.readyState <= 1) return;
    connecting = true;
    render();
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/api/v1/visitor/ws");
    ws.onopen = function () {
      retry = 500;
      var hello = saved ? { type: "hello", conversation: saved.conversation, token: saved.token, since: lastSeq }
                        : { type: "hello", service: service, page: page };
      if (!saved && identity) {
        hello.attributes = identity.attributes;
        hello.attributes_expires = identity.expires;
        hello.attributes_signature = identity.signature;
      }
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = function (ev) {
      var f = JSON.parse(ev.data);
      if (f.type === "welcome") { resumeTo = f.seq; connecting = false; }
      apply(f);
      // Once the history is in, resend what was never acknowledged (its
      // echo would have removed it from pending); the server ignores a
      // client_id it already stored.
      if (resumeTo !== null && lastSeq >= resumeTo) { resumeTo = null; resend(); }
    };
    ws.onclose = function (ev) {
      connecting = false;
      render();
      if (ev.code === 1008 && !saved) { state = "idle"; render(); return; }
      if (state !== "ended" || Object.keys(pending).length) setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  function resend() {
    Object.keys(pending).forEach(function (id) {
      ws.send(JSON.stringify({ type: "message", client_id: id, text: pending[id].text }));
    });
  }

  function newId() {
    var a = new Uint8Array(12);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // startIfAnswered opens the conversation when the chat is opened and
  // someone answers; with nobody there it waits for a message left.
  function startIfAnswered() {
    if (saved || state !== "idle") return;
    if (status.known && status.available) connect();
  }

  function refreshStatus() {
    return fetch("/api/v1/services/" + encodeURIComponent(service)).then(function (r) {
      if (!r.ok) throw new Error("status " + r.status);
      return r.json();
    }).then(function (j) {
      status = { title: j.title || "", greeting: j.greeting || "", available: !!j.available, open: !!j.open, known: true };
      render();
    }, function () { render(); });
  }

  $("composer").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value;
    if (!text.trim() || state === "ended") return;
    var id = newId();
    var el = bubble("visitor");
    el.classList.add("pending");
    el.dataset.state = "sending";
    // The visitor sees their own text only until the redacted copy comes back.
    el.querySelector(".bubble").textContent = text;
    meta(el, { from: "visitor" });
    list.appendChild(el);
    scrollDown();
    pending[id] = { text: text, el: el };
    input.value = "";
    if (ws && ws.readyState === 1 && resumeTo === null) ws.send(JSON.stringify({ type: "message", client_id: id, text: text }));
    else connect(); // the first message creates the conversation; it goes out after the welcome
    sendTyping(false);
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); $("send").click(); }
  });
  function sendTyping(active) {
    if (typingSent === active || !ws || ws.readyState !== 1) return;
    typingSent = active;
    ws.send(JSON.stringify({ type: "typing", active: active }));
  }
  input.addEventListener("input", function () {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
    sendTyping(input.value.length > 0);
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { sendTyping(false); }, 4000);
  });
  $("end").addEventListener("click", function () {
    if (state === "ended") { // start over
      try { localStorage.removeItem(key); } catch (e) { /* private mode */ }
      location.reload();
      return;
    }
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "end" }));
  });

  // The launcher on the host page: open and close come from it, the unread
  // count and a close request go to it. Nothing else crosses.
  function tellParent(msg) { if (embedded) window.parent.postMessage(msg, "*"); }
  function tellUnread() { tellParent({ sig: "unread", count: unread }); }
  $("minimise").hidden = !embedded;
  $("minimise").addEventListener("click", function () { tellParent({ sig: "close" }); });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && embedded && !ev.defaultPrevented) tellParent({ sig: "close" });
  });
  window.addEventListener("message", function (ev) {
    if (ev.source !== window.parent || !ev.data) return;
    if (ev.data.sig === "open") {
      isOpen = true;
      unread = 0;
      tellUnread();
      startIfAnswered();
      setTimeout(function () { (input.disabled ? $("minimise") : input).focus(); }, 0);
    } else if (ev.data.sig === "close") {
      isOpen = false;
    } else if (ev.data.sig === "identify" && ev.data.attributes && typeof ev.data.attributes === "object") {
      // The website's signed attributes, for the next conversation; the
      // server verifies the signature.
      identity = { attributes: ev.data.attributes, expires: Number(ev.data.expires) || 0, signature: String(ev.data.signature || "") };
    }
  });

  // Static labels in the visitor's language.
  $("input-label").textContent = T.t("message");
  $("send").setAttribute("aria-label", T.t("send"));
  $("minimise").setAttribute("aria-label", T.t("minimise"));
  list.setAttribute("aria-label", T.t("messages"));

  setInterval(function () { if (ws && ws.readyState === 1) ws.send('{"type":"ping"}'); }, 25000);
  // Whether anyone answers can change while the visitor reads: look again
  // every half minute until an agent has joined.
  setInterval(function () { if (state === "idle" || state === "waiting") refreshStatus().then(function () { if (isOpen) startIfAnswered(); }); }, 30000);
  SecureForm.init($("secure-form"), function (frame) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame));
  }, { t: T.t, scrollDown: scrollDown });
  render();
  if (saved) connect();
  refreshStatus().then(function () { if (isOpen) startIfAnswered(); });
  tellParent({ sig: "ready" });
})();
