// The agent console's calls (secure IVR sessions) and supervisor view, both
// in the work area beside the lists. The digits never come here: only
// their count (agent-assisted mode) and the outcome.
(function () {
  "use strict";
  var C = window.SIGConsole, $ = C.$;
  var supervises = [];
  var currentCall = null, lastRequest = null, lastView = "chat";

  function svgIcon(d, label) {
    var s = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    s.setAttribute("viewBox", "0 0 24 24"); s.setAttribute("class", "icon-inline"); s.setAttribute("focusable", "false");
    if (label) { s.setAttribute("role", "img"); s.setAttribute("aria-label", label); } else s.setAttribute("aria-hidden", "true");
    var p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("fill", "currentColor"); p.setAttribute("d", d);
    s.appendChild(p);
    return s;
  }
  var lockPath = "M12 2a5 5 0 0 0-5 5v3H6a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-8a2 2 0 0 0-2-2h-1V7a5 5 0 0 0-5-5zm-3 8V7a3 3 0 0 1 6 0v3z";

  C.onConnect = function () {
    if (supervises.length) C.send({ type: "supervise", workgroup: $("supervise-workgroup").value });
  };

  // The supervisor view: a workgroup's live chats (with a lock and the
  // count of secure inputs on those that used one) and its agents,
  // refreshed by the server every second.
  C.setupSupervisor = function (list) {
    supervises = list;
    var sel = $("supervise-workgroup");
    sel.textContent = "";
    supervises.forEach(function (wg) {
      var o = document.createElement("option");
      o.value = wg; o.textContent = wg;
      sel.appendChild(o);
    });
    $("supervisor-nav").hidden = supervises.length === 0;
    sel.onchange = function () { C.send({ type: "supervise", workgroup: sel.value }); };
  };
  $("open-supervisor").addEventListener("click", function () {
    lastView = C.mode === "supervisor" ? lastView : C.mode || "chat";
    C.showWork("supervisor");
    $("supervise-workgroup").focus();
  });
  $("supervisor-close").addEventListener("click", function () { C.showWork(lastView === "supervisor" ? "chat" : lastView); $("open-supervisor").focus(); });

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  C.renderSupervision = function (f) {
    var body = $("supervised-conversations").querySelector("tbody");
    body.textContent = "";
    (f.conversations || []).forEach(function (c) {
      var tr = document.createElement("tr");
      tr.dataset.conversation = c.conversation;
      cell(tr, c.service + " · " + c.conversation.slice(0, 6));
      cell(tr, c.state);
      cell(tr, c.agent || "—");
      var n = c.secure_input ? c.secure_input.requests : 0;
      var td = cell(tr, "");
      if (n) {
        var span = document.createElement("span");
        span.className = "secure-count";
        span.appendChild(svgIcon(lockPath, "Secure input used"));
        span.appendChild(document.createTextNode(String(n)));
        td.appendChild(span);
      }
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
  };

  // Calls: Secure Input → form → agent fields → Send to IVR → waiting →
  // outcome, with Close, Retry or Cancel, in the work area.
  C.renderCalls = function (calls) {
    $("calls-section").hidden = calls.length === 0 && !currentCall;
    var ul = $("call-list");
    ul.textContent = "";
    calls.forEach(function (c) {
      var li = document.createElement("li");
      var name = document.createElement("span");
      name.textContent = c.call + (c.parties > 2 ? " (conference)" : "") + (c.monitored ? " (monitored)" : "");
      var b = document.createElement("button");
      b.type = "button"; b.className = "secure-input btn"; b.dataset.call = c.call;
      b.appendChild(svgIcon(lockPath));
      b.appendChild(document.createTextNode("Secure Input"));
      b.setAttribute("aria-label", "Secure Input on call " + c.call);
      b.addEventListener("click", function () { currentCall = c.call; C.send({ type: "call_forms", call: c.call }); });
      li.appendChild(name); li.appendChild(b);
      ul.appendChild(li);
    });
  };
  function openPanel() {
    if (C.mode !== "call") lastView = C.mode || "chat";
    C.showWork("call");
  }
  $("call-panel-close").addEventListener("click", function () { C.showWork(lastView === "call" ? "chat" : lastView); });

  C.showCallPicker = function (f) {
    openPanel();
    $("call-title").textContent = "Secure input on call " + f.call;
    $("call-state").textContent = "";
    var box = $("call-picker");
    box.textContent = "";
    box.hidden = false;
    var opts = document.createElement("div");
    opts.className = "options";
    (f.forms || []).forEach(function (form) {
      var b = document.createElement("button");
      b.type = "button"; b.className = "pick-call-form btn"; b.dataset.form = form.name; b.textContent = form.title;
      b.addEventListener("click", function () { callAgentFields(f.call, form); });
      opts.appendChild(b);
    });
    box.appendChild(opts);
    var first = box.querySelector("button");
    if (first) first.focus();
  };

  function callAgentFields(call, form) {
    var box = $("call-picker");
    box.textContent = "";
    var fm = document.createElement("form");
    fm.className = "call-fields";
    (form.agent_fields || []).forEach(function (field) {
      var wrap = document.createElement("div");
      wrap.className = "field";
      var l = document.createElement("label");
      l.textContent = field.name;
      l.htmlFor = "cf-" + field.id;
      var i = document.createElement("input");
      i.name = field.id; i.id = l.htmlFor;
      if (field.read_only) { i.readOnly = true; i.setAttribute("aria-readonly", "true"); l.textContent += " (looked up)"; }
      wrap.appendChild(l); wrap.appendChild(i);
      fm.appendChild(wrap);
    });
    var mwrap = document.createElement("div");
    mwrap.className = "field";
    var ml = document.createElement("label");
    ml.textContent = "Mode"; ml.htmlFor = "cf-mode";
    var mode = document.createElement("select");
    mode.name = "mode"; mode.id = "cf-mode";
    [["hold", "Hold me while the caller keys in"], ["assisted", "Stay on the call (tones masked)"]].forEach(function (m) {
      var o = document.createElement("option"); o.value = m[0]; o.textContent = m[1]; mode.appendChild(o);
    });
    mwrap.appendChild(ml); mwrap.appendChild(mode);
    fm.appendChild(mwrap);
    var b = document.createElement("button");
    b.type = "submit"; b.className = "send-to-ivr btn primary"; b.textContent = "Send to IVR";
    // A form with a lookup: the server fills the agent fields; Send to IVR
    // stays disabled, with the reasons, until the form is complete (the
    // server runs the lookup again and refuses an incomplete form).
    var reasons = document.createElement("ul");
    reasons.className = "draft-reasons"; reasons.id = "cf-reasons";
    reasons.setAttribute("role", "status"); reasons.setAttribute("aria-live", "polite");
    var lookupError = null, pending = !!form.lookup;
    function update() {
      if (!form.lookup) return;
      var why = [];
      if (pending) why.push("Looking up the caller's data…");
      else if (lookupError) why.push(lookupError);
      if (!pending) {
        (form.agent_fields || []).forEach(function (field) {
          if (!field.optional && !fm.elements[field.id].value.trim()) why.push(field.name + " is required");
        });
      }
      reasons.textContent = "";
      why.forEach(function (r) { var li = document.createElement("li"); li.textContent = r; reasons.appendChild(li); });
      b.disabled = why.length > 0;
    }
    C.callDraft = function (d) {
      if (d.form !== form.name || !fm.isConnected) return;
      pending = false; lookupError = null;
      (d.reasons || []).forEach(function (r) { if (/^lookup failed|verified/.test(r)) lookupError = r; });
      if (!lookupError) {
        Object.keys(d.values || {}).forEach(function (k) {
          var i = fm.elements[k];
          if (i && (i.readOnly || !i.value)) i.value = d.values[k];
        });
      }
      update();
    };
    fm.addEventListener("input", update);
    if (form.lookup) fm.appendChild(reasons);
    fm.appendChild(b);
    fm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (b.disabled) return;
      var fields = {};
      (form.agent_fields || []).forEach(function (field) { fields[field.id] = fm.elements[field.id].value; });
      lastRequest = { type: "call_secure_input", call: call, form: form.name, mode: mode.value, fields: fields };
      C.send(lastRequest);
      box.textContent = "";
      $("call-state").textContent = "Waiting for caller to complete input…";
    });
    box.appendChild(fm);
    var first = fm.querySelector("input:not([readonly]),select");
    if (first) first.focus();
    if (form.lookup) {
      update();
      C.send({ type: "call_form_prepare", call: call, form: form.name, fields: {} });
    }
  }

  function button(cls, text, fn) {
    var b = document.createElement("button");
    b.type = "button"; b.className = cls + " btn"; b.textContent = text;
    b.addEventListener("click", fn);
    return b;
  }

  C.renderCallSession = function (f) {
    var s = f.outcome || {};
    var el = $("call-state");
    $("calls-section").hidden = false;
    openPanel();
    $("call-title").textContent = "Secure input on call " + f.call;
    el.textContent = "";
    var line = document.createElement("div");
    line.className = "call-status " + (s.state || "");
    if (s.state !== "ended") {
      line.textContent = s.state === "starting" ? "Waiting for the phone system to pause recording…" : "Waiting for caller to complete input…";
      if (f.form) {
        var p = f.form;
        line.textContent += " " + p.field + ": " + "\u25CF".repeat(p.digits || 0) + (p.brand ? " (" + p.brand + ")" : "") +
          (p.valid === false ? " — invalid, asked again" : "");
      }
      el.appendChild(line);
      el.appendChild(button("call-cancel", "Cancel", function () { C.send({ type: "call_cancel", call: f.call }); }));
      if (s.mode === "assisted") el.appendChild(button("call-restart", "Ask again", function () { C.send({ type: "call_restart", call: f.call }); }));
      return;
    }
    var o = s.outcome;
    line.textContent = o ? (o.status + " — transaction " + o.transaction_id + (o.brand ? " — " + o.brand + " ending " + o.last4 : "") + (o.token ? " — kept as " + o.token : "") +
      (o.status !== "accepted" && o.details ? " — " + o.details : "")) : ("ended without an outcome: " + (s.error || ""));
    line.className = "call-status " + (o ? o.status : "error");
    el.appendChild(line);
    el.appendChild(button("call-close", "Close", function () { C.showWork(lastView === "call" ? "chat" : lastView); }));
    if (!o || o.status !== "accepted") el.appendChild(button("call-retry", "Retry", function () { if (lastRequest) C.send(lastRequest); }));
  };
})();
