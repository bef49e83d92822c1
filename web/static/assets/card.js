// A mirror of the Go package card, for the as-you-type check in the widget.
// It reads the same brand table from /api/v1/cards, and TestCardMirror runs the
// same cases through both (web/browser_forms_test.go). Keep the two in step.
(function () {
  "use strict";
  var table = [], brands = [], unknown = "Unknown";
  var MIN = 12, MAX = 19;

  function load(data) {
    brands = data.brands;
    unknown = data.unknown || "Unknown";
    table = [];
    brands.forEach(function (b, bi) {
      var lengths = {};
      b.lengths.forEach(function (n) { lengths[n] = true; });
      b.ranges.forEach(function (r) {
        table.push({ brand: bi, width: r.from.length, from: parseInt(r.from, 10), to: parseInt(r.to, 10), lengths: lengths,
          maxLength: Math.max.apply(null, b.lengths) });
      });
    });
  }

  // digitValue returns the value of a decimal digit of any script, or -1.
  // Unicode encodes each script's digits 0-9 contiguously.
  var nd = /\p{Nd}/u;
  function digitValue(ch) {
    if (!nd.test(ch)) return -1;
    var cp = ch.codePointAt(0), start = cp;
    while (nd.test(String.fromCodePoint(start - 1))) start--;
    return (cp - start) % 10;
  }

  function digits(s) {
    var out = "";
    for (var ch of s) {
      var v = digitValue(ch);
      if (v >= 0) out += String(v);
    }
    return out;
  }

  function prefixValue(d, width) { return parseInt(d.slice(0, width), 10); }

  function mayBecome(d, e) {
    if (d.length >= e.width) {
      var v = prefixValue(d, e.width);
      return e.from <= v && v <= e.to;
    }
    var p = parseInt(d, 10), scale = Math.pow(10, e.width - d.length);
    var lo = p * scale, hi = p * scale + scale - 1;
    return lo <= e.to && e.from <= hi;
  }

  // possible: the brands a prefix may still become, decided and most
  // specific first (card.Possible).
  function possibleHits(d) {
    if (d.length > MAX) return [];
    var hits = [];
    table.forEach(function (e) {
      if (!mayBecome(d, e) || e.maxLength < d.length) return;
      var w = d.length >= e.width ? e.width : 0;
      var found = false;
      hits.forEach(function (h) { if (h.brand === e.brand) { h.width = Math.max(h.width, w); found = true; } });
      if (!found) hits.push({ brand: e.brand, width: w });
    });
    for (var i = 1; i < hits.length; i++) {
      for (var j = i; j > 0 && hits[j].width > hits[j - 1].width; j--) {
        var t = hits[j]; hits[j] = hits[j - 1]; hits[j - 1] = t;
      }
    }
    return hits;
  }

  function possible(prefix) {
    return possibleHits(digits(prefix)).map(function (h) { return brands[h.brand]; });
  }

  // brandName: "" while undecided, "Unknown" when no brand fits (card.BrandName).
  function brandName(prefix) {
    var d = digits(prefix);
    if (d === "") return "";
    var hits = possibleHits(d);
    if (hits.length === 0) return unknown;
    if (hits[0].width > 0 || hits.length === 1) return brands[hits[0].brand].name;
    return "";
  }

  function detect(d) {
    var best = -1, bestWidth = 0;
    table.forEach(function (e) {
      if (e.width > d.length || !e.lengths[d.length] || e.width <= bestWidth) return;
      var v = prefixValue(d, e.width);
      if (e.from <= v && v <= e.to) { best = e.brand; bestWidth = e.width; }
    });
    return best < 0 ? null : brands[best];
  }

  function luhn(d) {
    var sum = 0, dbl = false;
    for (var i = d.length - 1; i >= 0; i--) {
      var v = d.charCodeAt(i) - 48;
      if (dbl) { v *= 2; if (v > 9) v -= 9; }
      sum += v; dbl = !dbl;
    }
    return d.length > 0 && sum % 10 === 0;
  }

  // validate: "ok", or why not: "charset", "empty", "brand", "length", "luhn"
  // (card.Validate's errors).
  function validate(number) {
    for (var ch of number) {
      if (digitValue(ch) < 0 && ch !== " " && ch !== "-" && ch !== "\u00a0") return { error: "charset" };
    }
    var d = digits(number);
    if (d === "") return { error: "empty" };
    if (possibleHits(d.slice(0, 6)).length === 0) return { error: "brand" };
    var b = detect(d);
    if (!b) return { error: "length" };
    if (!luhn(d)) return { error: "luhn" };
    return { error: "ok", brand: b };
  }

  window.SecureCards = {
    load: load, digits: digits, possible: possible, brandName: brandName, detect: detect, luhn: luhn, validate: validate,
    ready: fetch("/api/v1/cards").then(function (r) { return r.json(); }).then(load)
  };
})();
