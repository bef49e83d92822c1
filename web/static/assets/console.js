// The agent console. Protocol: docs/protocol.md. It never holds anything the
// server did not redact: every message it shows came from the server.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var ws = null, me = null, retry = 500;
  var chats = {};   // conversation -> {el, lastSeq, ended}
  var offer = null; // conversation offered to me
  var queue = [];
  var selected = null;
  var supervises = [];

  function show(view) {
    $("login-view").hidden = view !== "login";
    $("main-view").hidden = view !== "main";
  }

  function start() {
    fetch("/api/v1/me", { credentials: "same-origin" }).then(function (r) {
      if (r.status !== 200) { show("login"); return; }
      return r.json().then(function (j) {
        me = j.login;
        supervises = j.supervises || [];
        setupSupervisor();
        show("main");
        connect();
      });
    });
  }

  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    $("login-error").textContent = "";
    fetch("/api/v1/login", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ login: $("login").value, password: $("password").value })
    }).then(function (r) {
      $("password").value = "";
      if (r.status !== 200) { $("login-error").textContent = "Wrong login or password."; return; }
      start();
    });
  });

  $("logout").addEventListener("click", function () {
    fetch("/api/v1/logout", { method: "POST", credentials: "same-origin" }).then(function () { location.reload(); });
  });

  $("available").addEventListener("change", function () {
    send({ type: "status", status: $("available").checked ? "available" : "away" });
  });

  function send(f) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(f)); }

  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/api/v1/agent/ws");
    ws.onopen = function () {
      retry = 500;
      $("connection").textContent = "online";
      if (supervises.length) send({ type: "supervise", workgroup: $("supervise-workgroup").value });
      send({ type: "calls" });
    };
    ws.onmessage = function (ev) { handle(JSON.parse(ev.data)); };
    ws.onclose = function (ev) {
      $("connection").textContent = "offline";
      if (ev.code === 1008) { start(); return; } // session ended: log in again
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  function handle(f) {
    switch (f.type) {
      case "welcome": $("agent-name").textContent = f.name || f.agent; return;
      case "status": $("available").checked = f.status === "available"; return;
      case "queue": queue = f.chats || []; renderQueue(); return;
      case "forms": if (f.call) { showCallPicker(f); return; } break;
      case "offer": offer = f.conversation; renderQueue(); return;
      case "chats":
        (f.chats || []).forEach(function (c) { ensureChat(c.conversation, c.service); });
        renderChatList(f.chats || []);
        return;
      case "supervision": renderSupervision(f); return;
      case "calls": renderCalls(f.conversations || []); return;
      case "call_session": renderCallSession(f); return;
      case "error": alert((f.conversation ? "Chat " + f.conversation + ": " : "") + (f.message || f.code)); return;
      case "undelivered": alert("Your message could not be delivered: it could not be redacted."); return;
    }
    if (!f.conversation) return;
    var c = chats[f.conversation];
    if (!c) return;
    if (f.type === "typing") { c.el.querySelector(".chat-typing").hidden = !f.active; return; }
    if (f.type === "forms") { showPicker(c, f); return; }
    if (f.type === "form_status") { showFormState(c, f); return; }
    // History and live frames may overlap and arrive out of order (a live
    // frame before the history asked for): apply each seq once, in place.
    if (c.seen[f.seq]) return;
    c.seen[f.seq] = true;
    if (f.seq > c.lastSeq) c.lastSeq = f.seq;
    var list = c.el.querySelector(".messages");
    var li = document.createElement("li");
    switch (f.type) {
      case "message":
        li.className = "msg " + f.from;
        li.dataset.id = f.id;
        var who = document.createElement("span");
        who.className = "who";
        who.textContent = f.from === "visitor" ? "Visitor" : (f.name || "Agent");
        var text = document.createElement("span");
        text.className = "text";
        text.textContent = f.text;
        li.appendChild(who); li.appendChild(text);
        break;
      case "message_update":
        var old = list.querySelector('.msg[data-id="' + f.id + '"] .text');
        if (old) old.textContent = f.text;
        return;
      case "waiting": li.className = "system"; li.textContent = "Waiting for an agent"; break;
      case "agent_joined": li.className = "system"; li.textContent = (f.name || "Agent") + " joined"; break;
      case "agent_left": li.className = "system"; li.textContent = (f.name || "Agent") + " left"; break;
      case "ended": li.className = "system"; li.textContent = "Chat ended"; c.ended = true; break;
      case "secure_input": li.className = "system secure"; li.textContent = f.text; break;
      case "redaction": li.className = "system redaction"; li.textContent = "Masked by: " + f.text; break;
      default: return;
    }
    li.dataset.seq = f.seq;
    var after = null;
    for (var n = list.lastElementChild; n; n = n.previousElementSibling) {
      if (Number(n.dataset.seq) > f.seq) after = n; else break;
    }
    list.insertBefore(li, after);
    list.scrollTop = list.scrollHeight;
  }

  function renderQueue() {
    var ul = $("queue");
    ul.textContent = "";
    queue.forEach(function (q) {
      var li = document.createElement("li");
      if (q.conversation === offer) li.className = "offer";
      li.textContent = q.service + " · " + new Date(q.since).toLocaleTimeString() + " ";
      var b = document.createElement("button");
      b.className = "accept";
      b.dataset.conversation = q.conversation;
      b.textContent = q.conversation === offer ? "Accept (offered to you)" : "Accept";
      b.addEventListener("click", function () { send({ type: "accept", conversation: q.conversation }); });
      li.appendChild(b);
      ul.appendChild(li);
    });
  }

  function renderChatList(list) {
    var ul = $("chat-list");
    ul.textContent = "";
    list.forEach(function (c) {
      var li = document.createElement("li");
      li.dataset.conversation = c.conversation;
      li.textContent = c.service + " · " + c.conversation.slice(0, 6);
      li.addEventListener("click", function () { select(c.conversation); });
      if (c.conversation === selected) li.className = "selected";
      ul.appendChild(li);
    });
    if (!selected && list.length) select(list[0].conversation);
  }

  function select(id) {
    selected = id;
    Object.keys(chats).forEach(function (k) { chats[k].el.hidden = k !== id; });
  }

  function ensureChat(id, service) {
    if (chats[id]) { send({ type: "history", conversation: id, since: chats[id].lastSeq }); return; }
    var el = $("chat-template").content.firstElementChild.cloneNode(true);
    el.dataset.conversation = id;
    el.querySelector(".chat-title").textContent = service + " · " + id.slice(0, 6);
    var input = el.querySelector(".input");
    var typing = false, timer = null;
    el.querySelector(".composer").addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!input.value.trim()) return;
      if (input.value.trim() === "/form") { // the secure forms this agent may send here
        input.value = "";
        send({ type: "forms", conversation: id });
        return;
      }
      send({ type: "message", conversation: id, client_id: newClientId(), text: input.value });
      input.value = "";
      if (typing) { typing = false; send({ type: "typing", conversation: id, active: false }); }
    });
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); el.querySelector(".send").click(); }
    });
    input.addEventListener("input", function () {
      if (!typing) { typing = true; send({ type: "typing", conversation: id, active: true }); }
      clearTimeout(timer);
      timer = setTimeout(function () { typing = false; send({ type: "typing", conversation: id, active: false }); }, 4000);
    });
    el.querySelector(".end").addEventListener("click", function () { send({ type: "end", conversation: id }); });
    el.querySelector(".leave").addEventListener("click", function () { send({ type: "leave", conversation: id }); });
    $("chats").appendChild(el);
    chats[id] = { el: el, lastSeq: 0, seen: {} };
    send({ type: "history", conversation: id, since: 0 });
    select(selected || id);
  }

  function newClientId() { return String(Date.now()) + Math.random().toString(16).slice(2); }

  // showPicker lists the forms and canned responses the server says this
  // agent may use here; choosing a form asks for its agent-filled fields.
  function showPicker(c, f) {
    var id = c.el.dataset.conversation;
    var box = c.el.querySelector(".form-picker");
    box.textContent = "";
    box.hidden = false;
    var forms = f.forms || [], canned = f.canned || [];
    var title = document.createElement("strong");
    title.textContent = forms.length ? "Request secure data" : "No secure form is available to you in this chat.";
    box.appendChild(title);
    forms.forEach(function (form) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "pick-form";
      b.dataset.form = form.name;
      b.textContent = form.title;
      var d = document.createElement("div");
      d.className = "desc";
      d.textContent = form.description || "";
      b.appendChild(d);
      b.addEventListener("click", function () { askAgentFields(c, form, null); });
      box.appendChild(b);
    });
    canned.forEach(function (cr) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "pick-canned";
      b.textContent = "Canned: " + cr.title;
      b.addEventListener("click", function () {
        send({ type: "message", conversation: id, client_id: newClientId(), text: cr.text });
        var form = forms.filter(function (x) { return x.name === cr.form; })[0];
        if (form) askAgentFields(c, form, null); else box.hidden = true;
      });
      box.appendChild(b);
    });
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = "Close";
    close.addEventListener("click", function () { box.hidden = true; });
    box.appendChild(close);
  }

  function askAgentFields(c, form) {
    var id = c.el.dataset.conversation;
    var box = c.el.querySelector(".form-picker");
    if (!form.agent_fields || !form.agent_fields.length) {
      box.hidden = true;
      send({ type: "form_request", conversation: id, form: form.name, fields: {} });
      return;
    }
    box.textContent = "";
    var f = document.createElement("form");
    f.className = "agent-fields";
    var h = document.createElement("strong");
    h.textContent = form.title + ": your part";
    f.appendChild(h);
    form.agent_fields.forEach(function (field) {
      var l = document.createElement("label");
      l.textContent = field.name + " ";
      var i = document.createElement("input");
      i.name = field.id;
      i.className = "agent-field";
      l.appendChild(i);
      f.appendChild(l);
    });
    var b = document.createElement("button");
    b.type = "submit";
    b.className = "send-form";
    b.textContent = "Send form";
    f.appendChild(b);
    f.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var fields = {};
      form.agent_fields.forEach(function (field) { fields[field.id] = f.elements[field.id].value; });
      send({ type: "form_request", conversation: id, form: form.name, fields: fields });
      box.hidden = true;
    });
    box.appendChild(f);
  }

  // showFormState shows a request's state: the outcome with the transaction
  // id, and the card's brand and last four digits at most.
  function showFormState(c, f) {
    var id = c.el.dataset.conversation;
    var box = c.el.querySelector(".form-state");
    box.hidden = false;
    box.textContent = "";
    var s = document.createElement("span");
    s.className = "state " + f.status;
    var out = f.outcome || {};
    var text = (f.name || "Secure form") + ": " + f.status;
    if (f.status === "waiting") text += " (the customer is filling it in)";
    if (out.transaction_id) text += " — transaction " + out.transaction_id;
    if (out.brand || out.last4) text += " — " + (out.brand || "card") + " ending " + (out.last4 || "");
    if (f.status === "declined" && out.details) text += " — " + out.details;
    if (f.status === "error" && out.details) text += " — " + out.details;
    s.textContent = text;
    box.appendChild(s);
    if (f.status === "declined" || f.status === "error") {
      var r = document.createElement("button");
      r.type = "button"; r.className = "retry"; r.textContent = "Retry";
      r.addEventListener("click", function () { send({ type: "form_retry", conversation: id, request: f.request }); });
      box.appendChild(r);
    }
    if (f.status === "waiting" || f.status === "declined" || f.status === "error") {
      var x = document.createElement("button");
      x.type = "button"; x.className = "cancel"; x.textContent = "Cancel";
      x.addEventListener("click", function () { send({ type: "form_cancel", conversation: id, request: f.request }); });
      box.appendChild(x);
    }
  }

  // The supervisor view: a workgroup's live chats (with a lock and the count
  // of secure inputs on those that used one) and its agents, refreshed by
  // the server every second.
  function setupSupervisor() {
    var sel = $("supervise-workgroup");
    sel.textContent = "";
    supervises.forEach(function (wg) {
      var o = document.createElement("option");
      o.value = wg; o.textContent = wg;
      sel.appendChild(o);
    });
    $("supervisor").hidden = supervises.length === 0;
    sel.onchange = function () { send({ type: "supervise", workgroup: sel.value }); };
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function renderSupervision(f) {
    var body = $("supervised-conversations").querySelector("tbody");
    body.textContent = "";
    (f.conversations || []).forEach(function (c) {
      var tr = document.createElement("tr");
      tr.dataset.conversation = c.conversation;
      cell(tr, c.service + " · " + c.conversation.slice(0, 6));
      cell(tr, c.state);
      cell(tr, c.agent || "—");
      var n = c.secure_input ? c.secure_input.requests : 0;
      cell(tr, n ? "\uD83D\uDD12 " + n : "", "secure-count");
      body.appendChild(tr);
    });
    var ab = $("supervised-agents").querySelector("tbody");
    ab.textContent = "";
    (f.agents || []).forEach(function (a) {
      var tr = document.createElement("tr");
      cell(tr, a.name || a.login);
      cell(tr, !a.online ? "offline" : a.available ? "available" : "away");
      cell(tr, String(a.chats));
      ab.appendChild(tr);
    });
  }

  // Calls: Secure Input → form → agent fields → Send to IVR → waiting →
  // outcome, with Close, Retry or Cancel. The digits never come here: only
  // their count (agent-assisted mode) and the outcome.
  var currentCall = null, lastRequest = null;
  function renderCalls(calls) {
    $("calls-section").hidden = calls.length === 0 && !currentCall;
    var ul = $("call-list");
    ul.textContent = "";
    calls.forEach(function (c) {
      var li = document.createElement("li");
      li.textContent = c.call + (c.parties > 2 ? " (conference)" : "") + (c.monitored ? " (monitored)" : "") + " ";
      var b = document.createElement("button");
      b.type = "button"; b.className = "secure-input"; b.dataset.call = c.call; b.textContent = "Secure Input";
      b.addEventListener("click", function () { currentCall = c.call; send({ type: "call_forms", call: c.call }); });
      li.appendChild(b);
      ul.appendChild(li);
    });
  }
  function showCallPicker(f) {
    $("call-panel").hidden = false;
    $("call-title").textContent = "Call " + f.call;
    $("call-state").textContent = "";
    var box = $("call-picker");
    box.textContent = "";
    (f.forms || []).forEach(function (form) {
      var b = document.createElement("button");
      b.type = "button"; b.className = "pick-call-form"; b.dataset.form = form.name; b.textContent = form.title;
      b.addEventListener("click", function () { callAgentFields(f.call, form); });
      box.appendChild(b);
    });
  }
  function callAgentFields(call, form) {
    var box = $("call-picker");
    box.textContent = "";
    var fm = document.createElement("form");
    fm.className = "call-fields";
    (form.agent_fields || []).forEach(function (field) {
      var l = document.createElement("label");
      l.textContent = field.name + " ";
      var i = document.createElement("input");
      i.name = field.id;
      l.appendChild(i);
      fm.appendChild(l);
    });
    var mode = document.createElement("select");
    mode.name = "mode";
    [["hold", "Hold me while the caller keys in"], ["assisted", "Stay on the call (tones masked)"]].forEach(function (m) {
      var o = document.createElement("option"); o.value = m[0]; o.textContent = m[1]; mode.appendChild(o);
    });
    fm.appendChild(mode);
    var b = document.createElement("button");
    b.type = "submit"; b.className = "send-to-ivr"; b.textContent = "Send to IVR";
    fm.appendChild(b);
    fm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var fields = {};
      (form.agent_fields || []).forEach(function (field) { fields[field.id] = fm.elements[field.id].value; });
      lastRequest = { type: "call_secure_input", call: call, form: form.name, mode: mode.value, fields: fields };
      send(lastRequest);
      box.textContent = "";
      $("call-state").textContent = "Waiting for caller to complete input…";
    });
    box.appendChild(fm);
  }
  function renderCallSession(f) {
    var s = f.outcome || {};
    var el = $("call-state");
    $("calls-section").hidden = false;
    $("call-panel").hidden = false;
    el.textContent = "";
    var line = document.createElement("div");
    line.className = "call-status " + (s.state || "");
    if (s.state !== "ended") {
      line.textContent = "Waiting for caller to complete input…";
      if (f.form) {
        var p = f.form;
        line.textContent += " " + p.field + ": " + "\u25CF".repeat(p.digits || 0) + (p.brand ? " (" + p.brand + ")" : "") +
          (p.valid === false ? " — invalid, asked again" : "");
      }
      el.appendChild(line);
      var x = document.createElement("button");
      x.type = "button"; x.className = "call-cancel"; x.textContent = "Cancel";
      x.addEventListener("click", function () { send({ type: "call_cancel", call: f.call }); });
      el.appendChild(x);
      if (s.mode === "assisted") {
        var r = document.createElement("button");
        r.type = "button"; r.className = "call-restart"; r.textContent = "Ask again";
        r.addEventListener("click", function () { send({ type: "call_restart", call: f.call }); });
        el.appendChild(r);
      }
      return;
    }
    var o = s.outcome;
    line.textContent = o ? (o.status + " — transaction " + o.transaction_id + (o.brand ? " — " + o.brand + " ending " + o.last4 : "") +
      (o.status !== "accepted" && o.details ? " — " + o.details : "")) : ("ended without an outcome: " + (s.error || ""));
    line.className = "call-status " + (o ? o.status : "error");
    el.appendChild(line);
    var close = document.createElement("button");
    close.type = "button"; close.className = "call-close"; close.textContent = "Close";
    close.addEventListener("click", function () { $("call-panel").hidden = true; });
    el.appendChild(close);
    if (!o || o.status !== "accepted") {
      var retry = document.createElement("button");
      retry.type = "button"; retry.className = "call-retry"; retry.textContent = "Retry";
      retry.addEventListener("click", function () { if (lastRequest) { send(lastRequest); } });
      el.appendChild(retry);
    }
  }

  setInterval(function () { send({ type: "ping" }); }, 25000);
  start();
})();
