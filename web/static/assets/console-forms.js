// The agent console's shared parts (window.SIGConsole), the composer with
// its canned-response search, the secure form picker and a form's state.
// The console offers only what the server lists for the agent; the server
// refuses anything else whatever this page does.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var C = window.SIGConsole = { $: $, chats: {}, selected: null, me: null, send: function () {} };

  C.initials = function (name) {
    var parts = String(name || "").trim().split(/\s+/).filter(Boolean);
    if (!parts.length) return "";
    return (Array.from(parts[0])[0] + (parts.length > 1 ? Array.from(parts[parts.length - 1])[0] : "")).toUpperCase();
  };

  // toast shows a message in the page (never alert()): errors stay until
  // closed or for 10 s.
  C.toast = function (text, kind) {
    var t = document.createElement("div");
    t.className = "toast " + (kind || "");
    t.setAttribute("role", kind === "error" ? "alert" : "status");
    var p = document.createElement("p");
    p.textContent = text;
    var x = document.createElement("button");
    x.type = "button"; x.textContent = "Dismiss";
    x.addEventListener("click", function () { t.remove(); });
    t.appendChild(p); t.appendChild(x);
    $("toasts").appendChild(t);
    setTimeout(function () { t.remove(); }, 10000);
  };

  // notifyOffer tells the agent of a new offer with a short sound and, if
  // they allowed it, a desktop notification (the Notification API).
  C.notifyOffer = function (f, queue) {
    var q = (queue || []).filter(function (x) { return x.conversation === f.conversation; })[0] || {};
    var body = (f.service || q.service || "chat") + (q.first_message ? ": " + q.first_message : "");
    if (window.Notification && Notification.permission === "granted") {
      try {
        var n = new Notification("New chat waiting", { body: body, tag: "offer-" + f.conversation });
        n.onclick = function () { window.focus(); n.close(); };
      } catch (e) { /* a browser without page notifications */ }
    }
    try {
      var A = window.AudioContext || window.webkitAudioContext;
      if (!A) return;
      var ctx = C.audio || (C.audio = new A());
      var o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = 880; g.gain.value = 0.05;
      o.connect(g); g.connect(ctx.destination);
      o.start(); o.stop(ctx.currentTime + 0.18);
    } catch (e) { /* no audio */ }
  };

  // showWork shows one view in the work area: a chat, the call panel, the
  // supervisor view, or the empty state.
  C.showWork = function (mode) {
    var any = Object.keys(C.chats).length > 0;
    $("chats").hidden = mode !== "chat";
    $("call-panel").hidden = mode !== "call";
    $("supervisor").hidden = mode !== "supervisor";
    $("empty-state").hidden = mode === "call" || mode === "supervisor" || (mode === "chat" && any);
    C.mode = mode;
  };

  // closePanels: a chat ended; its picker, suggestions and the buttons of
  // its form state go.
  C.closePanels = function (c) {
    c.el.querySelector(".form-picker").hidden = true;
    closeSuggestions(c);
    c.el.querySelectorAll(".form-state button").forEach(function (b) { b.remove(); });
  };

  function newClientId() { return String(Date.now()) + Math.random().toString(16).slice(2); }

  C.wireComposer = function (c, id) {
    var el = c.el, input = el.querySelector(".input"), list = el.querySelector(".suggestions");
    list.id = "suggestions-" + id;
    input.setAttribute("aria-controls", list.id);
    var typing = false, timer = null;
    function stopTyping() {
      clearTimeout(timer);
      if (typing) { typing = false; C.send({ type: "typing", conversation: id, active: false }); }
    }
    c.stopTyping = stopTyping;
    el.querySelector(".composer").addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (c.ended || !input.value.trim()) return;
      closeSuggestions(c);
      stopTyping(); // "/form" is not a message: the visitor must not see the agent typing on
      if (input.value.trim() === "/form") { // the secure forms this agent may send here
        input.value = "";
        c.wantPicker = true;
        C.send({ type: "forms", conversation: id });
        return;
      }
      C.send({ type: "message", conversation: id, client_id: newClientId(), text: input.value });
      input.value = "";
      if (c.cannedForm) { var f = c.cannedForm; c.cannedForm = null; askAgentFields(c, f); }
    });
    input.addEventListener("keydown", function (ev) {
      var open = !list.hidden;
      if (open && (ev.key === "ArrowDown" || ev.key === "ArrowUp")) {
        ev.preventDefault();
        move(c, ev.key === "ArrowDown" ? 1 : -1);
        return;
      }
      if (open && ev.key === "Escape") { ev.preventDefault(); closeSuggestions(c); return; }
      if (ev.key === "Escape") { el.querySelector(".form-picker").hidden = true; return; }
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        if (open && c.active >= 0) { choose(c, c.options[c.active]); return; }
        el.querySelector(".send").click();
      }
    });
    input.addEventListener("input", function () {
      if (input.value.charAt(0) === "/") {
        if (!c.forms && !c.noForms && !c.asked) { c.asked = true; C.send({ type: "forms", conversation: id }); }
        renderSuggestions(c);
        return;
      }
      closeSuggestions(c);
      if (!typing) { typing = true; C.send({ type: "typing", conversation: id, active: true }); }
      clearTimeout(timer);
      timer = setTimeout(stopTyping, 4000);
    });
  };

  // renderSuggestions lists "/form" and the canned responses whose title or
  // text holds what follows the "/".
  function renderSuggestions(c) {
    var input = c.el.querySelector(".input"), list = c.el.querySelector(".suggestions");
    var q = input.value.slice(1).trim().toLowerCase();
    var opts = [];
    if ("form".indexOf(q) === 0 || q === "" || "secure data".indexOf(q) >= 0) opts.push({ kind: "form", title: "/form", text: "Request secure data (card, SSN …)" });
    ((c.forms && c.forms.canned) || []).forEach(function (cr) {
      if (!q || cr.title.toLowerCase().indexOf(q) >= 0 || cr.text.toLowerCase().indexOf(q) >= 0) opts.push({ kind: "canned", title: cr.title, text: cr.text, canned: cr });
    });
    c.options = opts;
    c.active = opts.length ? 0 : -1;
    list.textContent = "";
    opts.forEach(function (o, i) {
      var li = document.createElement("li");
      li.id = list.id + "-" + i;
      li.setAttribute("role", "option");
      li.className = o.kind === "canned" ? "suggest-canned" : "suggest-form";
      li.textContent = o.title;
      var small = document.createElement("small");
      small.textContent = o.text;
      li.appendChild(small);
      li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(c, o); });
      list.appendChild(li);
    });
    list.hidden = opts.length === 0;
    mark(c);
  }
  function mark(c) {
    var list = c.el.querySelector(".suggestions"), input = c.el.querySelector(".input");
    Array.prototype.forEach.call(list.children, function (li, i) { li.setAttribute("aria-selected", String(i === c.active)); });
    if (c.active >= 0 && list.children[c.active]) {
      input.setAttribute("aria-activedescendant", list.children[c.active].id);
      list.children[c.active].scrollIntoView({ block: "nearest" });
    } else input.removeAttribute("aria-activedescendant");
  }
  function move(c, d) {
    if (!c.options || !c.options.length) return;
    c.active = (c.active + d + c.options.length) % c.options.length;
    mark(c);
  }
  function closeSuggestions(c) {
    var list = c.el.querySelector(".suggestions"), input = c.el.querySelector(".input");
    list.hidden = true;
    input.removeAttribute("aria-activedescendant");
    c.active = -1;
  }
  function choose(c, o) {
    var input = c.el.querySelector(".input");
    closeSuggestions(c);
    if (o.kind === "form") { input.value = "/form"; c.el.querySelector(".send").click(); return; }
    input.value = o.canned.text;
    var forms = (c.forms && c.forms.forms) || [];
    c.cannedForm = forms.filter(function (x) { return x.name === o.canned.form; })[0] || null;
    input.focus();
  }

  // gotForms: the server's list of forms and canned responses for a chat.
  C.gotForms = function (c, f) {
    c.forms = f;
    var input = c.el.querySelector(".input");
    if (input.value.charAt(0) === "/") renderSuggestions(c);
    if (c.wantPicker) { c.wantPicker = false; showPicker(c, f); }
  };

  // showPicker lists the forms and canned responses the server says this
  // agent may use here; choosing a form asks for its agent-filled fields.
  function showPicker(c, f) {
    var id = c.el.dataset.conversation;
    var box = c.el.querySelector(".form-picker");
    if (c.ended) return;
    box.textContent = "";
    box.hidden = false;
    var forms = f.forms || [], canned = f.canned || [];
    var title = document.createElement("strong");
    title.textContent = forms.length ? "Request secure data" : "No secure form is available to you in this chat.";
    box.appendChild(title);
    var opts = document.createElement("div");
    opts.className = "options";
    forms.forEach(function (form) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "pick-form btn";
      b.dataset.form = form.name;
      b.textContent = form.title;
      var d = document.createElement("span");
      d.className = "desc";
      d.textContent = form.description || "";
      b.appendChild(d);
      b.addEventListener("click", function () { askAgentFields(c, form); });
      opts.appendChild(b);
    });
    canned.forEach(function (cr) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "pick-canned btn";
      b.textContent = "Canned: " + cr.title;
      b.addEventListener("click", function () {
        C.send({ type: "message", conversation: id, client_id: newClientId(), text: cr.text });
        var form = forms.filter(function (x) { return x.name === cr.form; })[0];
        if (form) askAgentFields(c, form); else box.hidden = true;
      });
      opts.appendChild(b);
    });
    box.appendChild(opts);
    box.appendChild(closeButton(c, box));
    var first = box.querySelector("button");
    if (first) first.focus();
  }
  function closeButton(c, box) {
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn ghost";
    close.textContent = "Close";
    close.addEventListener("click", function () { box.hidden = true; c.el.querySelector(".input").focus(); });
    return close;
  }

  function askAgentFields(c, form) {
    var id = c.el.dataset.conversation;
    var box = c.el.querySelector(".form-picker");
    if (c.ended) return;
    if ((!form.agent_fields || !form.agent_fields.length) && !form.lookup) {
      box.hidden = true;
      C.send({ type: "form_request", conversation: id, form: form.name, fields: {} });
      return;
    }
    box.textContent = "";
    box.hidden = false;
    var f = document.createElement("form");
    f.className = "agent-fields";
    var h = document.createElement("strong");
    h.textContent = form.title + ": your part";
    f.appendChild(h);
    var inputs = {};
    form.agent_fields.forEach(function (field) {
      var wrap = document.createElement("div");
      wrap.className = "field";
      var l = document.createElement("label");
      l.textContent = field.name + (field.read_only ? " (looked up)" : "");
      l.htmlFor = "af-" + id + "-" + field.id;
      var i = document.createElement("input");
      i.name = field.id;
      i.id = l.htmlFor;
      i.className = "agent-field";
      if (field.kind === "amount") i.setAttribute("inputmode", "decimal");
      if (field.read_only) { i.readOnly = true; i.setAttribute("aria-readonly", "true"); }
      if (!field.optional) i.setAttribute("aria-required", "true");
      inputs[field.id] = i;
      wrap.appendChild(l); wrap.appendChild(i);
      f.appendChild(wrap);
    });
    // A form with a lookup service: the server fills the agent fields and
    // says when the form may be sent; until then Send form stays disabled
    // and the reasons are shown. The server refuses a send that is not
    // ready whatever this page does.
    var reasons = document.createElement("ul");
    reasons.className = "draft-reasons";
    reasons.id = "dr-" + id;
    reasons.setAttribute("role", "status");
    reasons.setAttribute("aria-live", "polite");
    var b = document.createElement("button");
    b.type = "submit";
    b.className = "send-form btn primary";
    b.textContent = "Send form";
    var lookupError = null;
    var pending = !!form.lookup;
    function values() {
      var v = {};
      form.agent_fields.forEach(function (field) { v[field.id] = inputs[field.id].value; });
      return v;
    }
    function update() {
      if (!form.lookup) return;
      var why = [];
      if (pending) why.push("Looking up the customer's data…");
      else if (lookupError) why.push(lookupError);
      if (!pending) {
        form.agent_fields.forEach(function (field) {
          if (!field.optional && !inputs[field.id].value.trim()) why.push(field.name + " is required");
        });
      }
      reasons.textContent = "";
      why.forEach(function (r) { var li = document.createElement("li"); li.textContent = r; reasons.appendChild(li); });
      b.disabled = why.length > 0;
      if (why.length) b.setAttribute("aria-describedby", reasons.id); else b.removeAttribute("aria-describedby");
      again.hidden = pending || !lookupError;
    }
    var again = document.createElement("button");
    again.type = "button";
    again.className = "lookup-again btn";
    again.textContent = "Look up again";
    again.hidden = true;
    again.addEventListener("click", function () { prepare(); });
    function prepare() {
      pending = true; lookupError = null;
      c.draft = { form: form.name, apply: applyDraft };
      update();
      C.send({ type: "form_prepare", conversation: id, form: form.name, fields: values() });
    }
    function applyDraft(d) {
      pending = false;
      lookupError = null;
      (d.reasons || []).forEach(function (r) { if (/^lookup failed|verified/.test(r)) lookupError = r; });
      if (!lookupError) {
        Object.keys(d.values || {}).forEach(function (k) {
          if (inputs[k] && (inputs[k].readOnly || !inputs[k].value)) inputs[k].value = d.values[k];
        });
      }
      update();
    }
    f.addEventListener("input", update);
    if (form.lookup) { f.appendChild(reasons); f.appendChild(again); }
    f.appendChild(b);
    f.appendChild(closeButton(c, box));
    f.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (b.disabled) return;
      C.send({ type: "form_request", conversation: id, form: form.name, fields: values() });
      c.draft = null;
      box.hidden = true;
      c.el.querySelector(".input").focus();
    });
    box.appendChild(f);
    var first = f.querySelector("input:not([readonly])") || f.querySelector("input");
    if (first) first.focus();
    if (form.lookup) prepare();
  }

  // gotDraft applies a form_draft to the form the agent has open.
  C.gotDraft = function (c, d) {
    if (c.draft && c.draft.form === d.form) c.draft.apply(d);
  };

  // showFormState shows a request's state: the outcome with the transaction
  // id, and the card's brand and last four digits at most. An ended chat
  // offers no Retry or Cancel.
  C.showFormState = function (c, f) {
    var id = c.el.dataset.conversation;
    var box = c.el.querySelector(".form-state");
    box.hidden = false;
    box.textContent = "";
    var s = document.createElement("span");
    s.className = "state " + f.status;
    s.setAttribute("role", "status");
    var out = f.outcome || {};
    var text = (f.name || "Secure form") + ": " + f.status;
    if (f.status === "waiting") text += " (the customer is filling it in)";
    if (out.transaction_id) text += " — transaction " + out.transaction_id;
    if (out.brand || out.last4) text += " — " + (out.brand || "card") + " ending " + (out.last4 || "");
    if (out.token) text += " — kept as " + out.token;
    if ((f.status === "declined" || f.status === "error") && out.details) text += " — " + out.details;
    s.textContent = text;
    box.appendChild(s);
    if (c.ended) return;
    if (f.status === "declined" || f.status === "error") {
      var r = document.createElement("button");
      r.type = "button"; r.className = "retry btn"; r.textContent = "Retry";
      r.addEventListener("click", function () { C.send({ type: "form_retry", conversation: id, request: f.request }); });
      box.appendChild(r);
    }
    if (f.status === "waiting" || f.status === "declined" || f.status === "error") {
      var x = document.createElement("button");
      x.type = "button"; x.className = "cancel btn"; x.textContent = "Cancel";
      x.addEventListener("click", function () { C.send({ type: "form_cancel", conversation: id, request: f.request }); });
      box.appendChild(x);
    }
  };
})();
