// The visitor's side of the chat, inside the widget iframe (gateway origin).
// Protocol: docs/protocol.md. It keeps {conversation, token} in localStorage
// so a reload or a dropped connection resumes the same conversation; frames
// are applied once each, by seq.
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var service = params.get("service") || "support";
  var key = "sig-conversation:" + service;
  var saved = null;
  try { saved = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { saved = null; }

  var list = document.getElementById("messages");
  var input = document.getElementById("input");
  var statusEl = document.getElementById("status");
  var typingEl = document.getElementById("typing");
  var lastSeq = 0;           // highest history seq applied
  var pending = {};          // client_id -> {text, el}
  var ws = null, ended = false, retry = 500, typingTimer = null, typingSent = false;

  function setStatus(t) { statusEl.textContent = t; }

  function save(conv, token) {
    saved = { conversation: conv, token: token };
    try { localStorage.setItem(key, JSON.stringify(saved)); } catch (e) { /* private mode */ }
  }

  function system(text, seq) {
    var li = document.createElement("li");
    li.className = "system";
    li.dataset.seq = seq;
    li.textContent = text;
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
  }

  function showMessage(f) {
    var el = f.client_id && pending[f.client_id] ? pending[f.client_id].el : document.createElement("li");
    if (f.client_id) delete pending[f.client_id];
    el.className = "msg " + f.from;
    el.dataset.id = f.id;
    el.dataset.seq = f.seq;
    el.textContent = f.text;
    if (!el.parentNode) list.appendChild(el);
    list.scrollTop = list.scrollHeight;
  }

  function apply(f) {
    if (f.seq && f.seq <= lastSeq && isHistory(f.type)) return; // seen already
    if (SecureForm.handle(f)) return;
    switch (f.type) {
      case "welcome":
        if (f.token) save(f.conversation, f.token);
        setStatus(f.state === "ended" ? "Chat ended" : f.state === "active" ? "Connected" : "Waiting for an agent…");
        if (f.state === "ended") { ended = true; }
        return;
      case "waiting": setStatus("Waiting for an agent…"); system("Waiting for an agent…", f.seq); break;
      case "agent_joined": setStatus("Connected"); system((f.name || "An agent") + " joined the chat", f.seq); break;
      case "agent_left": system((f.name || "The agent") + " left the chat", f.seq); break;
      case "message": showMessage(f); break;
      case "message_update":
        var el = list.querySelector('.msg[data-id="' + f.id + '"]');
        if (el) el.textContent = f.text;
        break;
      case "ended": ended = true; setStatus("Chat ended"); system("The chat has ended", f.seq); break;
      case "secure_input": system(f.text, f.seq); break;
      case "redaction": break; // the agent's transcript notes it; nothing to show here
      case "typing": if (f.from === "agent") typingEl.hidden = !f.active; return;
      case "undelivered":
        var p = pending[f.client_id];
        if (p) { p.el.classList.add("failed"); p.el.title = "Not delivered"; delete pending[f.client_id]; }
        system("Your message could not be delivered.", 0);
        return;
      case "error":
        if (f.code === "not_found") { try { localStorage.removeItem(key); } catch (e) {} saved = null; }
        system("Error: " + (f.message || f.code), 0);
        return;
      default: return; // frame types added later are ignored
    }
    if (f.seq > lastSeq) lastSeq = f.seq;
  }

  function isHistory(t) {
    return t === "waiting" || t === "agent_joined" || t === "agent_left" || t === "message" ||
      t === "message_update" || t === "ended" || t === "secure_input" || t === "redaction";
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/api/v1/visitor/ws");
    ws.onopen = function () {
      retry = 500;
      var hello = saved ? { type: "hello", conversation: saved.conversation, token: saved.token, since: lastSeq }
                        : { type: "hello", service: service };
      ws.send(JSON.stringify(hello));
    };
    var resumeTo = null;
    ws.onmessage = function (ev) {
      var f = JSON.parse(ev.data);
      if (f.type === "welcome") resumeTo = f.seq;
      apply(f);
      // Once the history is in, resend what was never acknowledged (its
      // echo would have removed it from pending); the server ignores a
      // client_id it already stored.
      if (resumeTo !== null && lastSeq >= resumeTo) { resumeTo = null; resend(); }
    };
    ws.onclose = function (ev) {
      setStatus(ended ? "Chat ended" : "Reconnecting…");
      if (ev.code === 1008 && !saved) return;
      if (!ended || Object.keys(pending).length) setTimeout(connect, retry);
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

  document.getElementById("composer").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value;
    if (!text.trim() || ended) return;
    var id = newId();
    var el = document.createElement("li");
    el.className = "msg visitor pending";
    // The visitor sees their own text only until the redacted copy comes back.
    el.textContent = text;
    list.appendChild(el);
    pending[id] = { text: text, el: el };
    input.value = "";
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "message", client_id: id, text: text }));
    sendTyping(false);
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); document.getElementById("send").click(); }
  });
  function sendTyping(active) {
    if (typingSent === active || !ws || ws.readyState !== 1) return;
    typingSent = active;
    ws.send(JSON.stringify({ type: "typing", active: active }));
  }
  input.addEventListener("input", function () {
    sendTyping(input.value.length > 0);
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { sendTyping(false); }, 4000);
  });
  document.getElementById("end").addEventListener("click", function () {
    if (ended) { // start over
      try { localStorage.removeItem(key); } catch (e) {}
      location.reload();
      return;
    }
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "end" }));
  });
  setInterval(function () { document.getElementById("end").textContent = ended ? "New chat" : "End chat"; }, 500);
  setInterval(function () { if (ws && ws.readyState === 1) ws.send('{"type":"ping"}'); }, 25000);
  SecureForm.init(document.getElementById("secure-form"), function (frame) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame));
  });
  connect();
})();
