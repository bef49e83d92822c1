// The secure form inside the widget iframe. Its values go to the server in a
// form_submit frame and nowhere else: not into the chat, not into storage.
// Checks as the customer types mirror the Go card and secure packages.
(function () {
  "use strict";
  var box = null, current = null, send = null;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) e.textContent = text;
    return e;
  }

  var expiryRe = /^(\d{1,2})\s*[\/-]\s*(\d{2}|\d{4})$|^(\d{2})(\d{2})$/;
  function checkExpiry(s) {
    var m = expiryRe.exec(s.trim());
    if (!m) return "is not valid";
    var mm = parseInt(m[1] || m[3], 10), yy = m[2] || m[4];
    var y = parseInt(yy, 10) + (yy.length === 2 ? 2000 : 0);
    if (mm < 1 || mm > 12) return "is not valid";
    var now = new Date(), end = new Date(Date.UTC(y, mm, 1));
    if (now >= end) return "is in the past";
    return "";
  }
  function checkSSN(s) {
    var d = s.replace(/[- ]/g, "");
    if (!/^\d{9}$/.test(d)) return "is not valid";
    if (d.slice(0, 3) === "000" || d.slice(0, 3) === "666" || d[0] === "9" || d.slice(3, 5) === "00" || d.slice(5) === "0000") return "is not valid";
    return "";
  }
  var cardErrors = { charset: "has characters other than digits", empty: "is required", brand: "is not a known card (Unknown brand)",
    length: "has the wrong number of digits", luhn: "is not a valid card number" };

  // check returns the error of each field, mirroring secure.Check.
  function check(fields, values) {
    var errs = {}, brand = null;
    fields.forEach(function (f) {
      var v = (values[f.id] || "").trim();
      if (!v) { if (!f.optional) errs[f.id] = "is required"; return; }
      switch (f.kind) {
        case "card_number":
          var r = SecureCards.validate(v);
          if (r.error !== "ok") errs[f.id] = cardErrors[r.error];
          else if (f.brands && f.brands.length && f.brands.indexOf(r.brand.id) < 0) errs[f.id] = "is a card brand not accepted here";
          else brand = r.brand;
          break;
        case "expiry": var e = checkExpiry(v); if (e) errs[f.id] = e; break;
        case "security_code":
          if (!/^\d+$/.test(v)) errs[f.id] = "is not valid";
          else if (brand && brand.codeSize && v.length !== brand.codeSize) errs[f.id] = "must have " + brand.codeSize + " digits for " + brand.name;
          else if (!brand && (v.length < 3 || v.length > 4)) errs[f.id] = "is not valid";
          break;
        case "ssn": var s = checkSSN(v); if (s) errs[f.id] = s; break;
        case "secure_note": if (new TextEncoder().encode(v).length > 2000) errs[f.id] = "is too long"; break;
        case "text": if (new TextEncoder().encode(v).length > 200) errs[f.id] = "is too long"; break;
        case "amount": if (!/^\d{1,12}(\.\d{1,2})?$/.test(v) || /^[0.]+$/.test(v)) errs[f.id] = "is not valid"; break;
        case "account_number": var a = v.replace(/[- ]/g, ""); if (!/^[0-9A-Za-z]{4,34}$/.test(a)) errs[f.id] = "is not valid"; break;
      }
    });
    return errs;
  }

  function show(frame) {
    current = frame.request;
    var form = frame.form;
    box.textContent = "";
    box.hidden = false;
    box.appendChild(el("h3", {}, form.title));
    if (form.description) box.appendChild(el("p", {}, form.description));
    box.appendChild(el("p", {}, "Only the secure service sees what you type here; the agent does not."));
    var f = el("form", { autocomplete: "off", novalidate: "" });
    f.className = "secure";
    form.fields.forEach(function (field) {
      var label = el("label", { "for": "sf-" + field.id }, field.name);
      var input = el("input", { id: "sf-" + field.id, name: field.id, "data-kind": field.kind, autocomplete: "off", spellcheck: "false" });
      if (field.kind === "card_number" || field.kind === "security_code" || field.kind === "ssn") input.setAttribute("inputmode", "numeric");
      if (field.kind === "security_code" || field.kind === "ssn") input.type = "password";
      label.appendChild(input);
      if (field.kind === "card_number") {
        var brand = el("span", { "class": "brand", id: "sf-brand", "aria-live": "polite" });
        label.appendChild(brand);
        input.addEventListener("input", function () {
          var name = SecureCards.brandName(input.value);
          brand.textContent = name;
          brand.className = "brand" + (name === "Unknown" ? " unknown" : "");
        });
      }
      label.appendChild(el("span", { "class": "field-error", id: "sf-error-" + field.id }));
      f.appendChild(label);
    });
    var buttons = el("div", { "class": "buttons" });
    var submit = el("button", { type: "submit", id: "sf-submit" }, "Send securely");
    var cancel = el("button", { type: "button", id: "sf-cancel" }, "Cancel");
    buttons.appendChild(submit); buttons.appendChild(cancel);
    f.appendChild(buttons);
    f.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var values = {};
      form.fields.forEach(function (field) { values[field.id] = f.elements[field.id].value; });
      var errs = check(form.fields, values);
      showErrors(errs);
      if (Object.keys(errs).length) return;
      send({ type: "form_submit", request: current, values: values });
      form.fields.forEach(function (field) { f.elements[field.id].value = ""; });
      submit.disabled = true;
      setState("Checking…", "");
    });
    cancel.addEventListener("click", function () { send({ type: "form_cancel", request: current }); });
    box.appendChild(f);
    box.appendChild(el("p", { "class": "outcome", id: "sf-outcome" }));
  }

  function showErrors(errs) {
    box.querySelectorAll(".field-error").forEach(function (e) { e.textContent = ""; });
    Object.keys(errs).forEach(function (id) {
      var e = document.getElementById("sf-error-" + id);
      if (e) e.textContent = " " + errs[id];
    });
  }

  function setState(text, cls) {
    var o = document.getElementById("sf-outcome");
    if (!o) { o = el("p", { "class": "outcome", id: "sf-outcome" }); box.appendChild(o); }
    o.textContent = text;
    o.className = "outcome " + cls;
  }

  function status(frame) {
    if (frame.request !== current) return;
    var out = frame.outcome || {};
    var f = box.querySelector("form.secure");
    switch (frame.status) {
      case "submitted": setState("Checking…", ""); return;
      case "accepted":
        if (f) f.remove();
        setState("Accepted — transaction " + out.transaction_id, "accepted");
        return;
      case "declined":
        if (f) f.remove();
        setState("Declined" + (out.details ? ": " + out.details : "") + " — transaction " + out.transaction_id, "declined");
        return;
      case "error":
        if (f) f.remove();
        setState("Could not be checked; the agent may try again.", "error");
        return;
      case "cancelled":
        if (f) f.remove();
        setState("Cancelled.", "");
        return;
    }
  }

  function formError(frame) {
    if (frame.request !== current) return;
    showErrors(frame.errors || {});
    var b = document.getElementById("sf-submit");
    if (b) b.disabled = false;
    setState("Please correct the marked fields.", "error");
  }

  window.SecureForm = {
    init: function (container, sender) { box = container; send = sender; },
    handle: function (frame) {
      switch (frame.type) {
        case "form": SecureCards.ready.then(function () { show(frame); }); return true;
        case "form_status": status(frame); return true;
        case "form_error": formError(frame); return true;
      }
      return false;
    },
    check: check
  };
})();
