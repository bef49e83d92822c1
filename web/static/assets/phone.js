// The demo phone: it calls the telephony API (docs/telephony.md) with the
// demo platform key, as a real platform would, and shows/speaks prompts.
(function () {
  "use strict";
  var KEY = "demo-telephony-key"; // the demo configuration's key: never in production
  var call = null, lastPrompt = "", typed = "";
  // Each key is pushed at once with its number in the session (seq), so the
  // gateway applies them in order and once, however the requests overlap,
  // and a failed push can be retried.
  var session = null, seq = 0, ended = null;
  var $ = function (id) { return document.getElementById(id); };
  function api(method, path, body) {
    return fetch("/api/telephony/v1" + path, {
      method: method, headers: { "Authorization": "Bearer " + KEY, "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) { return r.status === 204 ? {} : r.json().then(function (j) { j._status = r.status; return j; }); });
  }
  function say(text) {
    $("prompt").textContent = text;
    if (window.speechSynthesis && text) {
      try { speechSynthesis.cancel(); speechSynthesis.speak(new SpeechSynthesisUtterance(text)); } catch (e) {}
    }
  }
  $("place").addEventListener("click", function () {
    call = "demo-call-" + Math.floor(Math.random() * 1e6);
    api("POST", "/calls", { call: call, agent: "demo", parties: 2 }).then(function () {
      $("call").textContent = "On call " + call;
      $("place").disabled = true; $("hangup").disabled = false;
      say("Connected to the agent. Waiting for a secure input…");
    });
  });
  $("hangup").addEventListener("click", function () {
    if (!call) return;
    api("DELETE", "/calls/" + call);
    call = null;
    $("call").textContent = ""; $("place").disabled = false; $("hangup").disabled = true;
    typed = ""; $("keys").textContent = "";
    say("No call.");
  });
  "123456789*0#".split("").forEach(function (k) {
    var b = document.createElement("button");
    b.type = "button"; b.className = "btn"; b.textContent = k; b.dataset.key = k;
    b.setAttribute("aria-label", k === "*" ? "star" : k === "#" ? "hash" : k);
    b.addEventListener("click", function () {
      if (!call) return;
      typed += k === "#" || k === "*" ? "" : "●";
      $("keys").textContent = typed;
      if (k === "#" || k === "*") typed = "";
      push(call, session ? { digits: k, seq: ++seq } : { digits: k }, 3);
    });
    $("keypad").appendChild(b);
  });
  function push(c, body, tries) {
    api("POST", "/calls/" + c + "/session/digits", body).then(show, function () {
      if (tries > 1) setTimeout(function () { push(c, body, tries - 1); }, 200);
    });
  }
  function show(s) {
    if (!s || s._status === 404 || s._status === 409) return;
    if (s.session && s.session !== session) { session = s.session; seq = 0; }
    if (s.session === ended) return; // a late reply about a session already over
    if (s.state === "ended") {
      ended = s.session;
      var o = s.outcome;
      var end = o ? "Thank you. Your payment was " + o.status + ". Reference " + o.transaction_id + "." : "The secure input ended: " + (s.error || "");
      if (end !== lastPrompt) { lastPrompt = end; say(end); } // once, not at every poll
      typed = ""; $("keys").textContent = ""; // nothing of the entry stays on screen
      return;
    }
    if (s.prompt) {
      var text = (s.prompt.retry ? "That was not valid. " : "") + s.prompt.text;
      if (text !== lastPrompt) { lastPrompt = text; typed = ""; $("keys").textContent = ""; say(text); }
    }
  }
  setInterval(function () { if (call) api("GET", "/calls/" + call + "/session").then(show); }, 700);
})();
