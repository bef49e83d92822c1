// The agent console. Protocol: docs/protocol.md. It never holds anything the
// server did not redact: every message it shows came from the server.
// Secure forms and canned responses: console-forms.js; calls and the
// supervisor view: console-calls.js. They share window.SIGConsole.
(function () {
  "use strict";
  var C = window.SIGConsole;
  var $ = C.$;
  var ws = null, retry = 500;
  var chats = C.chats;   // conversation -> {el, lastSeq, seen, ended, unread, service, info}
  var order = [];        // conversations in the order they were taken
  var offer = null;      // conversation offered to me
  var queue = [];
  var wantOpen = null;   // a chat I accepted, to open as soon as it is mine
  var timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

  function show(view) {
    $("login-view").hidden = view !== "login";
    $("main-view").hidden = view !== "main";
    if (view === "login") setTimeout(function () { $("login").focus(); }, 0);
  }

  function start() {
    fetch("/api/v1/me", { credentials: "same-origin" }).then(function (r) {
      if (r.status !== 200) { show("login"); return; }
      return r.json().then(function (j) {
        C.me = j.login;
        C.setupSupervisor(j.supervises || []);
        show("main");
        C.showWork(C.mode || "chat");
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
      if (r.status !== 200) {
        $("login-error").textContent = "Wrong login or password.";
        $("password").setAttribute("aria-invalid", "true");
        $("password").focus();
        return;
      }
      $("password").removeAttribute("aria-invalid");
      start();
    });
  });

  $("logout").addEventListener("click", function () {
    fetch("/api/v1/logout", { method: "POST", credentials: "same-origin" }).then(function () { location.reload(); });
  });

  $("available").addEventListener("change", function () {
    // Asked here, on the agent's own click, as browsers require.
    if ($("available").checked && window.Notification && Notification.permission === "default") {
      try { Notification.requestPermission(); } catch (e) { /* old browsers */ }
    }
    send({ type: "status", status: $("available").checked ? "available" : "away" });
  });

  function send(f) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(f)); }
  C.send = send;

  function setConnection(on) {
    $("connection").textContent = on ? "online" : "offline";
    $("connection").className = "pill " + (on ? "online" : "offline");
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/api/v1/agent/ws");
    ws.onopen = function () {
      retry = 500;
      setConnection(true);
      C.onConnect();
      send({ type: "calls" });
    };
    ws.onmessage = function (ev) { handle(JSON.parse(ev.data)); };
    ws.onclose = function (ev) {
      setConnection(false);
      if (ev.code === 1008) { start(); return; } // session ended: log in again
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  function handle(f) {
    switch (f.type) {
      case "welcome":
        $("agent-name").textContent = f.name || f.agent;
        $("me-avatar").textContent = C.initials(f.name || f.agent);
        return;
      case "status": $("available").checked = f.status === "available"; return;
      case "queue": queue = f.chats || []; renderQueue(); return;
      case "forms": if (f.call) { C.showCallPicker(f); return; } break;
      case "offer":
        if (f.conversation !== offer) { offer = f.conversation; C.notifyOffer(f, queue); }
        renderQueue();
        return;
      case "chats":
        (f.chats || []).forEach(function (c) { ensureChat(c); });
        if (wantOpen && chats[wantOpen]) { select(wantOpen); wantOpen = null; }
        renderChatList();
        return;
      case "supervision": C.renderSupervision(f); return;
      case "calls": C.renderCalls(f.conversations || []); return;
      case "call_session": C.renderCallSession(f); return;
      case "form_draft": if (f.call) { if (C.callDraft) C.callDraft(f); return; } break;
      case "error":
        if (f.code === "forms_disabled") { if (chats[f.conversation]) chats[f.conversation].noForms = true; return; }
        if (f.code === "taken" || f.code === "busy") wantOpen = null;
        C.toast((f.conversation ? "Chat " + f.conversation.slice(0, 6) + ": " : "") + (f.message || f.code), "error");
        return;
      case "undelivered": C.toast("Your message could not be delivered: it could not be redacted.", "error"); return;
    }
    if (!f.conversation) return;
    var c = chats[f.conversation];
    if (!c) return;
    if (f.type === "typing") { c.el.querySelector(".chat-typing").textContent = f.active ? "The visitor is typing…" : ""; return; }
    if (f.type === "forms") { C.gotForms(c, f); return; }
    if (f.type === "form_status") { C.showFormState(c, f); return; }
    if (f.type === "form_draft") { C.gotDraft(c, f); return; }
    if (f.type === "history_end") { c.loaded = true; return; }
    // History and live frames may overlap and arrive out of order (a live
    // frame before the history asked for): apply each seq once, in place.
    if (c.seen[f.seq]) return;
    c.seen[f.seq] = true;
    var live = c.loaded;
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
        if (f.at) {
          var time = document.createElement("time");
          time.dateTime = new Date(f.at).toISOString();
          time.textContent = timeFormat.format(new Date(f.at));
          who.appendChild(time);
        }
        var text = document.createElement("span");
        text.className = "text";
        text.textContent = f.text;
        li.appendChild(who); li.appendChild(text);
        if (f.from === "visitor") {
          c.el.querySelector(".chat-typing").textContent = "";
          c.last = f.text;
          if (live && (C.selected !== f.conversation || document.hidden)) { c.unread++; renderChatList(); }
        }
        break;
      case "message_update":
        var old = list.querySelector('.msg[data-id="' + f.id + '"] .text');
        if (old) old.textContent = f.text;
        return;
      case "waiting": li.className = "system"; li.textContent = "Waiting for an agent"; break;
      case "agent_joined": li.className = "system"; li.textContent = (f.name || "Agent") + " joined"; break;
      case "agent_left": li.className = "system"; li.textContent = (f.name || "Agent") + " left"; break;
      case "ended":
        li.className = "system"; li.textContent = "Chat ended" + (f.from === "visitor" ? " by the visitor" : "");
        endChat(c);
        break;
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

  // endChat: nothing can be sent any more; only reading and closing remain.
  function endChat(c) {
    c.ended = true;
    var el = c.el;
    el.querySelector(".input").disabled = true;
    el.querySelector(".send").disabled = true;
    el.querySelector(".input").placeholder = "This chat has ended.";
    el.querySelector(".leave").hidden = true;
    el.querySelector(".end").hidden = true;
    el.querySelector(".close-chat").hidden = false;
    el.querySelector(".chat-ended").hidden = false;
    el.querySelector(".chat-typing").textContent = "";
    C.closePanels(c);
    renderChatList();
  }

  function since(ms) {
    var s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return "waiting " + s + " s";
    if (s < 3600) return "waiting " + Math.floor(s / 60) + " min";
    return "waiting " + Math.floor(s / 3600) + " h " + Math.floor(s % 3600 / 60) + " min";
  }

  // renderQueue updates the queue in place, entry by entry, so that a
  // button under the agent's pointer or focus is never replaced.
  function renderQueue() {
    var ul = $("queue");
    var old = {};
    Array.prototype.forEach.call(ul.children, function (li) { old[li.dataset.conversation] = li; });
    $("queue-count").textContent = queue.length ? String(queue.length) : "";
    $("queue-empty").hidden = queue.length > 0;
    var prev = null;
    queue.forEach(function (q) {
      var li = old[q.conversation] || queueItem(q);
      delete old[q.conversation];
      fillQueueItem(li, q);
      var at = prev ? prev.nextSibling : ul.firstChild;
      if (at !== li) ul.insertBefore(li, at);
      prev = li;
    });
    Object.keys(old).forEach(function (k) { old[k].remove(); });
  }

  function queueItem(q) {
    var li = document.createElement("li");
    li.dataset.conversation = q.conversation;
    var head = document.createElement("div");
    head.className = "q-head";
    var svc = document.createElement("strong");
    var wait = document.createElement("span");
    wait.className = "wait";
    head.appendChild(svc); head.appendChild(wait);
    var first = document.createElement("p");
    var pg = document.createElement("p");
    pg.className = "q-page";
    var b = document.createElement("button");
    b.type = "button";
    b.dataset.conversation = q.conversation;
    b.addEventListener("click", function () { wantOpen = q.conversation; send({ type: "accept", conversation: q.conversation }); });
    li.appendChild(head); li.appendChild(first); li.appendChild(pg); li.appendChild(b);
    return li;
  }

  function fillQueueItem(li, q) {
    var offered = q.conversation === offer;
    li.className = "queue-item" + (offered ? " offer" : "");
    li.querySelector(".q-head strong").textContent = q.service;
    var wait = li.querySelector(".wait");
    wait.dataset.since = q.since;
    wait.textContent = since(q.since);
    var first = li.querySelector("p");
    first.className = "q-first" + (q.first_message ? "" : " none");
    first.textContent = q.first_message || "No message yet";
    var pg = li.querySelector(".q-page");
    pg.hidden = !q.page;
    pg.textContent = q.page ? "On " + q.page.replace(/^https?:\/\//, "") : "";
    var b = li.querySelector("button");
    b.className = "accept btn" + (offered ? " primary" : "");
    b.textContent = offered ? "Accept (offered to you)" : "Accept";
    b.setAttribute("aria-label", b.textContent + ": " + q.service + ", " + since(q.since) + (q.first_message ? ", " + q.first_message : ""));
  }
  setInterval(function () {
    document.querySelectorAll("#queue .wait").forEach(function (w) { w.textContent = since(Number(w.dataset.since)); });
  }, 15000);

  function renderChatList() {
    var ul = $("chat-list");
    var hadFocus = ul.contains(document.activeElement) ? document.activeElement.dataset.conversation : null;
    ul.textContent = "";
    $("chats-empty").hidden = order.length > 0;
    var total = 0;
    order.forEach(function (id) {
      var c = chats[id];
      var li = document.createElement("li");
      var b = document.createElement("button");
      b.type = "button";
      b.dataset.conversation = id;
      if (c.ended) b.className = "ended";
      if (id === C.selected) { b.setAttribute("aria-current", "true"); li.className = "selected"; }
      var av = document.createElement("span");
      av.className = "avatar"; av.setAttribute("aria-hidden", "true"); av.textContent = "V";
      var name = document.createElement("span");
      name.className = "name";
      name.textContent = c.service + " · " + id.slice(0, 6);
      var small = document.createElement("small");
      small.textContent = c.ended ? "Ended" : (c.last || "");
      name.appendChild(small);
      b.appendChild(av); b.appendChild(name);
      if (c.unread) {
        var badge = document.createElement("span");
        badge.className = "badge unread";
        badge.textContent = String(c.unread);
        b.appendChild(badge);
        b.setAttribute("aria-label", name.firstChild.textContent + ", " + c.unread + " unread" + (c.ended ? ", ended" : ""));
        total += c.unread;
      }
      b.addEventListener("click", function () { select(id); });
      li.appendChild(b);
      ul.appendChild(li);
      if (hadFocus === id) b.focus();
    });
    document.title = (total ? "(" + total + ") " : "") + "Agent console — Secure Input Gateway";
  }

  function select(id) {
    C.selected = id;
    Object.keys(chats).forEach(function (k) { chats[k].el.hidden = k !== id; });
    if (chats[id]) chats[id].unread = 0;
    C.showWork("chat");
    renderChatList();
  }
  C.select = select;

  function ensureChat(info) {
    var id = info.conversation;
    if (chats[id]) { send({ type: "history", conversation: id, since: chats[id].lastSeq }); return; }
    var el = $("chat-template").content.firstElementChild.cloneNode(true);
    el.dataset.conversation = id;
    el.setAttribute("aria-label", "Chat " + info.service + " " + id.slice(0, 6));
    el.querySelector(".chat-title").textContent = info.service + " · " + id.slice(0, 6);
    el.querySelector(".chat-sub").textContent = (info.page ? "On " + info.page.replace(/^https?:\/\//, "") + " · " : "") +
      "since " + timeFormat.format(new Date(info.since));
    var c = { el: el, lastSeq: 0, seen: {}, unread: 0, service: info.service, loaded: false, last: info.first_message || "" };
    chats[id] = c;
    order.push(id);
    C.wireComposer(c, id);
    el.querySelector(".end").addEventListener("click", function () { send({ type: "end", conversation: id }); });
    el.querySelector(".leave").addEventListener("click", function () { send({ type: "leave", conversation: id }); });
    el.querySelector(".close-chat").addEventListener("click", function () { closeChat(id); });
    $("chats").appendChild(el);
    send({ type: "history", conversation: id, since: 0 });
    // Frames after history_end are live (unread counts); the history comes first.
    if (!C.selected) select(id); else el.hidden = C.selected !== id;
  }

  // closeChat takes an ended chat off the console.
  function closeChat(id) {
    var c = chats[id];
    if (!c) return;
    c.el.remove();
    delete chats[id];
    order = order.filter(function (x) { return x !== id; });
    if (C.selected === id) {
      C.selected = null;
      if (order.length) select(order[order.length - 1]); else C.showWork("none");
    }
    renderChatList();
  }

  // Keyboard: Alt+Up/Down moves between my chats; Escape closes a panel.
  document.addEventListener("keydown", function (ev) {
    if (ev.altKey && (ev.key === "ArrowDown" || ev.key === "ArrowUp") && order.length) {
      ev.preventDefault();
      var i = order.indexOf(C.selected);
      i = ev.key === "ArrowDown" ? (i + 1) % order.length : (i - 1 + order.length) % order.length;
      select(order[i]);
      var input = chats[order[i]].el.querySelector(".input");
      if (!input.disabled) input.focus(); else chats[order[i]].el.querySelector(".close-chat").focus();
    }
  });

  setInterval(function () { send({ type: "ping" }); }, 25000);
  start();
})();
