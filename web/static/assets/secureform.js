// The secure form inside the widget iframe. Its values go to the server in a
// form_submit frame and nowhere else: not into the chat, not into storage,
// not to the host page. Checks as the customer types mirror the Go card and
// secure packages; the server checks everything again.
//
// The form is a card at the end of the conversation's scroll (not a panel
// that squeezes it), the card number is grouped as its brand prints it, the
// brand shows as an icon inside the field, each error sits under its own
// field (aria-invalid, aria-describedby) and goes as soon as it is fixed,
// and what the agent filled in (the amount) is shown read-only.
(function () {
  "use strict";
  var box = null, current = null, send = null, hooks = null, fields = [], shown = {};
  var t = function (k, v) { return hooks && hooks.t ? hooks.t(k, v) : k; };

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) e.textContent = text;
    return e;
  }
  function svg(d) {
    var s = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    s.setAttribute("viewBox", "0 0 24 24"); s.setAttribute("aria-hidden", "true"); s.setAttribute("focusable", "false");
    s.setAttribute("class", "icon-inline");
    var p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("fill", "currentColor"); p.setAttribute("d", d);
    s.appendChild(p);
    return s;
  }
  var lockPath = "M12 2a5 5 0 0 0-5 5v3H6a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-8a2 2 0 0 0-2-2h-1V7a5 5 0 0 0-5-5zm-3 8V7a3 3 0 0 1 6 0v3z";

  var expiryRe = /^(\d{1,2})\s*[\/-]\s*(\d{2}|\d{4})$|^(\d{2})(\d{2})$/;
  function checkExpiry(s) {
    var m = expiryRe.exec(s.trim());
    if (!m) return "invalid";
    var mm = parseInt(m[1] || m[3], 10), yy = m[2] || m[4];
    var y = parseInt(yy, 10) + (yy.length === 2 ? 2000 : 0);
    if (mm < 1 || mm > 12) return "invalid";
    if (new Date() >= new Date(Date.UTC(y, mm, 1))) return "expired";
    return "";
  }
  function checkSSN(s) {
    var d = s.replace(/[- ]/g, "");
    if (!/^\d{9}$/.test(d)) return "invalid";
    if (d.slice(0, 3) === "000" || d.slice(0, 3) === "666" || d[0] === "9" || d.slice(3, 5) === "00" || d.slice(5) === "0000") return "invalid";
    return "";
  }
  var cardCodes = { charset: "charset", empty: "required", brand: "brand", length: "length", luhn: "luhn" };

  // check returns the error of each field, mirroring secure.Check: {id: {code, n, brand}}.
  function check(fields, values) {
    var errs = {}, brand = null;
    fields.forEach(function (f) {
      var v = (values[f.id] || "").trim();
      if (!v) { if (!f.optional) errs[f.id] = { code: "required" }; return; }
      switch (f.kind) {
        case "card_number":
          var r = SecureCards.validate(v);
          if (r.error !== "ok") errs[f.id] = { code: cardCodes[r.error] };
          else if (f.brands && f.brands.length && f.brands.indexOf(r.brand.id) < 0) errs[f.id] = { code: "brandRefused" };
          else brand = r.brand;
          break;
        case "expiry": var e = checkExpiry(v); if (e) errs[f.id] = { code: e }; break;
        case "security_code":
          if (!/^\d+$/.test(v)) errs[f.id] = { code: "invalid" };
          else if (brand && brand.codeSize && v.length !== brand.codeSize) errs[f.id] = { code: "code", n: brand.codeSize, brand: brand.name };
          else if (!brand && (v.length < 3 || v.length > 4)) errs[f.id] = { code: "invalid" };
          break;
        case "ssn": if (checkSSN(v)) errs[f.id] = { code: "invalid" }; break;
        case "secure_note": if (new TextEncoder().encode(v).length > 2000) errs[f.id] = { code: "tooLong" }; break;
        case "text": if (new TextEncoder().encode(v).length > 200) errs[f.id] = { code: "tooLong" }; break;
        case "amount": if (!/^\d{1,12}(\.\d{1,2})?$/.test(v) || /^[0.]+$/.test(v)) errs[f.id] = { code: "invalid" }; break;
        case "account_number": var a = v.replace(/[- ]/g, ""); if (!/^[0-9A-Za-z]{4,34}$/.test(a)) errs[f.id] = { code: "invalid" }; break;
      }
    });
    return errs;
  }

  // The server's words for a field's rule (secure and card errors), as codes.
  var serverCodes = { "is required": "required", "is not valid": "invalid", "is in the past": "expired", "is too long": "tooLong",
    "is a card brand not accepted here": "brandRefused" };
  function message(field, err) {
    var key = { required: "errRequired", invalid: "errInvalid", expired: "errExpired", tooLong: "errTooLong",
      brandRefused: "errBrandRefused", charset: "errCharset", brand: "errBrand", length: "errLength", luhn: "errLuhn", code: "errCode" }[err.code];
    if (!key) return field.name + " " + (err.text || "");
    return t(key, { field: field.name, n: err.n, brand: err.brand });
  }

  // group formats a card number's digits as its brand prints them.
  function group(digits) {
    var brand = SecureCards.possible(digits)[0];
    var g = brand && brand.grouping && brand.grouping.length ? brand.grouping : [4, 4, 4, 4, 3];
    var out = [], i = 0, k = 0;
    while (i < digits.length) {
      var n = g[Math.min(k, g.length - 1)];
      out.push(digits.slice(i, i + n));
      i += n; k++;
    }
    return out.join(" ");
  }
  function maxDigits(digits) {
    var b = SecureCards.possible(digits)[0];
    return b && b.lengths ? Math.max.apply(null, b.lengths) : 19;
  }
  function shortName(b) {
    var names = { visa: "VISA", mastercard: "MC", amex: "AMEX", discover: "DISC", jcb: "JCB", unionpay: "UPAY", diners: "DINERS",
      maestro: "MAES", mir: "MIR", elo: "ELO", hipercard: "HIPER", rupay: "RUPAY", troy: "TROY", verve: "VERVE", uatp: "UATP" };
    return names[b.id] || b.name.replace(/[^A-Za-z]/g, "").slice(0, 5).toUpperCase();
  }
  var brandColors = { visa: "#1a1f71", mastercard: "#b3401a", amex: "#1f5fbf", discover: "#8a4b00", jcb: "#0b6b3a", unionpay: "#b3261e",
    diners: "#1b4f72", maestro: "#3b4a9e", mir: "#0a6b4f" };

  function cardInput(input, icon, live) {
    input.addEventListener("input", function () {
      var before = input.value.slice(0, input.selectionStart || 0);
      var digitsBefore = SecureCards.digits(before).length;
      var d = SecureCards.digits(input.value);
      d = d.slice(0, maxDigits(d));
      var formatted = group(d);
      if (formatted !== input.value) {
        input.value = formatted;
        var pos = 0, seen = 0;
        while (pos < formatted.length && seen < digitsBefore) { if (/\d/.test(formatted[pos])) seen++; pos++; }
        input.setSelectionRange(pos, pos);
      }
      var name = SecureCards.brandName(d);
      var brand = SecureCards.possible(d)[0];
      icon.className = "brand-icon" + (name === "Unknown" ? " unknown" : "");
      icon.textContent = name === "" ? "" : name === "Unknown" ? "?" : shortName(brand || { id: "", name: name });
      icon.style.backgroundColor = brand && name !== "Unknown" && brandColors[brand.id] ? brandColors[brand.id] : "";
      icon.title = name === "Unknown" ? t("sfUnknownBrand") : name;
      live.textContent = name === "" ? "" : name === "Unknown" ? t("sfUnknownBrand") : t("sfBrand", { brand: name });
      live.dataset.brand = name;
    });
  }

  function show(frame) {
    current = frame.request;
    var form = frame.form;
    fields = form.fields;
    shown = {};
    box.textContent = "";
    box.hidden = false;
    var h = el("h2", { id: "sf-title" });
    h.appendChild(svg(lockPath));
    h.appendChild(document.createTextNode(form.title || t("sfForm")));
    box.appendChild(h);
    if (form.description) box.appendChild(el("p", { "class": "desc" }, form.description));
    var note = el("p", { "class": "note", id: "sf-note" });
    note.appendChild(svg(lockPath));
    note.appendChild(el("span", {}, t("sfNote")));
    box.appendChild(note);
    if (form.agent_values && form.agent_values.length) {
      var dl = el("dl", { "class": "given", id: "sf-given" });
      form.agent_values.forEach(function (v) {
        var row = el("div", { "data-field": v.id });
        row.appendChild(el("dt", {}, v.name));
        row.appendChild(el("dd", { id: "sf-given-" + v.id }, v.value));
        dl.appendChild(row);
      });
      var given = el("div", { "class": "given", id: "sf-given" });
      dl.className = "";
      dl.removeAttribute("id");
      given.appendChild(dl);
      given.appendChild(el("span", { "class": "hint" }, t("sfFromAgent")));
      box.appendChild(given);
    }
    var f = el("form", { autocomplete: "off", novalidate: "", "aria-describedby": "sf-note" });
    f.className = "secure";
    form.fields.forEach(function (field) {
      var wrap = el("div", { "class": "field" });
      wrap.appendChild(el("label", { "for": "sf-" + field.id }, field.name));
      var input = el("input", { id: "sf-" + field.id, name: field.id, "data-kind": field.kind, autocomplete: "off", spellcheck: "false",
        "aria-describedby": "sf-error-" + field.id, "aria-invalid": "false" });
      if (!field.optional) input.setAttribute("aria-required", "true");
      if (field.kind === "card_number" || field.kind === "security_code" || field.kind === "ssn" || field.kind === "expiry") input.setAttribute("inputmode", "numeric");
      if (field.kind === "security_code" || field.kind === "ssn") input.type = "password";
      if (field.kind === "card_number") {
        var row = el("div", { "class": "with-brand" });
        var icon = el("span", { "class": "brand-icon", id: "sf-brand-icon", "aria-hidden": "true" });
        var live = el("span", { "class": "sr-only", id: "sf-brand", "aria-live": "polite" });
        row.appendChild(input); row.appendChild(icon);
        wrap.appendChild(row); wrap.appendChild(live);
        input.setAttribute("aria-describedby", "sf-brand sf-error-" + field.id);
        input.setAttribute("maxlength", "40");
        cardInput(input, icon, live);
      } else {
        wrap.appendChild(input);
      }
      wrap.appendChild(el("p", { "class": "error-text", id: "sf-error-" + field.id }));
      // An error goes as soon as the field is right; a field left wrong
      // says so when the customer moves on.
      input.addEventListener("input", function () { if (shown[field.id]) recheck(f, false); });
      input.addEventListener("blur", function () { if (input.value.trim()) { shown[field.id] = true; recheck(f, false); } });
      f.appendChild(wrap);
    });
    var buttons = el("div", { "class": "buttons" });
    var submit = el("button", { type: "submit", id: "sf-submit", "class": "btn primary" });
    submit.appendChild(svg(lockPath));
    submit.appendChild(document.createTextNode(t("sfSubmit")));
    var cancel = el("button", { type: "button", id: "sf-cancel", "class": "btn" }, t("sfCancel"));
    buttons.appendChild(submit); buttons.appendChild(cancel);
    f.appendChild(buttons);
    f.addEventListener("submit", function (ev) {
      ev.preventDefault();
      form.fields.forEach(function (field) { shown[field.id] = true; });
      var errs = recheck(f, true);
      if (Object.keys(errs).length) return;
      var values = {};
      form.fields.forEach(function (field) { values[field.id] = f.elements[field.id].value; });
      send({ type: "form_submit", request: current, values: values });
      form.fields.forEach(function (field) { f.elements[field.id].value = ""; });
      values = null;
      submit.disabled = true;
      setState(t("sfChecking"), "");
    });
    cancel.addEventListener("click", function () { send({ type: "form_cancel", request: current }); });
    box.appendChild(f);
    box.appendChild(el("p", { "class": "outcome", id: "sf-outcome", role: "status" }));
    place(f);
  }

  // place puts the cursor in the first field without scrolling it away,
  // and the conversation's newest message in view above the form.
  function place(f) {
    var first = f.querySelector("input");
    if (first) first.focus({ preventScroll: true });
    if (hooks && hooks.scrollDown) hooks.scrollDown();
  }

  // recheck runs the checks and shows the errors of the fields shown so
  // far (all of them on submit); the first wrong field gets focus on submit.
  function recheck(f, focus) {
    var values = {};
    fields.forEach(function (field) { values[field.id] = f.elements[field.id].value; });
    var errs = check(fields, values);
    values = null;
    var firstBad = null;
    fields.forEach(function (field) {
      var err = shown[field.id] ? errs[field.id] : null;
      setError(field, err ? message(field, err) : "");
      if (err && !firstBad) firstBad = f.elements[field.id];
    });
    if (focus && firstBad) firstBad.focus();
    return errs;
  }

  function setError(field, text) {
    var e = document.getElementById("sf-error-" + field.id);
    var input = document.getElementById("sf-" + field.id);
    if (e) e.textContent = text;
    if (input) input.setAttribute("aria-invalid", text ? "true" : "false");
  }

  function setState(text, cls) {
    var o = document.getElementById("sf-outcome");
    if (!o) { o = el("p", { "class": "outcome", id: "sf-outcome", role: "status" }); box.appendChild(o); }
    o.textContent = text;
    o.className = "outcome " + cls;
  }

  function status(frame) {
    if (frame.request !== current) return;
    var out = frame.outcome || {};
    var f = box.querySelector("form.secure");
    var done = function () { if (f) f.remove(); var g = document.getElementById("sf-given"); if (g) g.remove(); };
    switch (frame.status) {
      case "submitted": setState(t("sfChecking"), ""); return;
      case "accepted": done(); setState(t("sfAccepted", { id: out.transaction_id }), "accepted"); return;
      case "declined":
        done();
        setState(t("sfDeclined", { id: out.transaction_id }) + (out.details ? " — " + out.details : ""), "declined");
        return;
      case "error": done(); setState(t("sfError"), "error"); return;
      case "cancelled": done(); setState(t("sfCancelled"), ""); return;
    }
  }

  function formError(frame) {
    if (frame.request !== current) return;
    var errs = frame.errors || {};
    fields.forEach(function (field) {
      var e = errs[field.id];
      if (!e) return;
      shown[field.id] = true;
      setError(field, message(field, { code: serverCodes[e], text: e }));
    });
    var b = document.getElementById("sf-submit");
    if (b) b.disabled = false;
    setState(t("sfCorrect"), "error");
  }

  window.SecureForm = {
    init: function (container, sender, h) { box = container; send = sender; hooks = h || null; },
    handle: function (frame) {
      switch (frame.type) {
        case "form": SecureCards.ready.then(function () { show(frame); }); return true;
        case "form_status": status(frame); return true;
        case "form_error": formError(frame); return true;
      }
      return false;
    },
    // close takes the form away (the chat ended): nothing is left to send.
    close: function () {
      if (!box) return;
      var f = box.querySelector("form.secure");
      if (f) f.remove();
      box.hidden = true;
      current = null;
    },
    check: check,
    group: group
  };
})();
