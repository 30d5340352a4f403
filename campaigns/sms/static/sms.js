/* Lan Tỏa SMS pages: live counter on the compose page (characters, GSM-7 or
   UCS-2, parts; the no-diacritics variant beside it) and live counts on the
   wave status page. The server repeats every check; this is only a preview. */
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENSION = "\f^{}\\[~]|€";
  var MAX_PARTS = 6;

  function segments(costs, single, multi) {
    var total = 0, i;
    for (i = 0; i < costs.length; i++) { total += costs[i]; }
    if (total === 0) { return { length: 0, parts: 0 }; }
    if (total <= single) { return { length: total, parts: 1 }; }
    var parts = 1, used = 0;
    for (i = 0; i < costs.length; i++) {
      if (used + costs[i] > multi) { parts += 1; used = 0; }
      used += costs[i];
    }
    return { length: total, parts: parts };
  }

  function analyze(text) {
    text = (text || "").normalize("NFC");
    var chars = Array.from(text), gsm = true, costs = [], i, ch;
    for (i = 0; i < chars.length; i++) {
      ch = chars[i];
      if (BASIC.indexOf(ch) >= 0) { costs.push(1); }
      else if (EXTENSION.indexOf(ch) >= 0) { costs.push(2); }
      else { gsm = false; break; }
    }
    if (gsm) {
      var g = segments(costs, 160, 153);
      return { text: text, encoding: "GSM-7", length: g.length, parts: g.parts };
    }
    costs = chars.map(function (c) { return c.codePointAt(0) > 0xffff ? 2 : 1; });
    var u = segments(costs, 70, 67);
    return { text: text, encoding: "UCS-2", length: u.length, parts: u.parts };
  }

  function stripDiacritics(text) {
    text = (text || "").normalize("NFC")
      .replace(/đ/g, "d").replace(/Đ/g, "D").replace(/ð/g, "d").replace(/Ð/g, "D")
      .replace(/ø/g, "o").replace(/Ø/g, "O");
    return text.normalize("NFD").replace(/\p{M}/gu, "").normalize("NFC");
  }

  function withLabel(text, campaignSelect) {
    var opt = campaignSelect && campaignSelect.options[campaignSelect.selectedIndex];
    if (!opt || opt.getAttribute("data-class") !== "advertising") { return text; }
    var t = text.replace(/^\s+/, "");
    return t.toUpperCase().indexOf("[QC]") === 0 ? text : "[QC] " + t;
  }

  function show(root, variant, info) {
    var set = function (key, value) {
      var el = root.querySelector('[data-count="' + variant + "-" + key + '"]');
      if (el) { el.textContent = String(value); }
      return el;
    };
    var p = root.querySelector('[data-variant="' + variant + '"]');
    if (p) { p.textContent = info.text; }
    set("length", info.length);
    set("encoding", info.encoding);
    var parts = set("parts", info.parts);
    if (parts) { parts.classList.toggle("over", info.parts > MAX_PARTS); }
  }

  function compose() {
    var area = document.getElementById("sms-text");
    var root = document.getElementById("sms-counter");
    if (!area || !root) { return; }
    var campaign = document.getElementById("campaign_id");
    var update = function () {
      var text = withLabel(area.value, campaign);
      show(root, "original", analyze(text));
      show(root, "plain", analyze(stripDiacritics(text)));
    };
    area.addEventListener("input", update);
    if (campaign) { campaign.addEventListener("change", update); }
    update();
  }

  function wave() {
    var card = document.querySelector("[data-wave-url]");
    if (!card || !window.fetch) { return; }
    var url = card.getAttribute("data-wave-url");
    // 12.345 on Vietnamese pages, 12,345 on English ones (as the server renders them)
    var num = function (n) { return Number(n).toLocaleString(document.documentElement.lang === "en" ? "en" : "vi"); };
    var refresh = function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          var done = data.total - data.by_status.pending;
          var bar = document.getElementById("wave-progress");
          if (bar) { bar.max = data.total || 1; bar.value = done; }
          var d = card.querySelector('[data-wave="done"]'), t = card.querySelector('[data-wave="total"]');
          if (d) { d.textContent = num(done); }
          if (t) { t.textContent = num(data.total); }
          Object.keys(data.by_carrier).forEach(function (carrier) {
            var row = document.querySelector('tr[data-carrier="' + carrier + '"]');
            if (!row) { return; }
            Object.keys(data.by_carrier[carrier]).forEach(function (s) {
              var cell = row.querySelector('[data-status="' + s + '"]');
              if (cell) { cell.textContent = num(data.by_carrier[carrier][s]); }
            });
          });
          Object.keys(data.by_status).forEach(function (s) {
            var cell = document.querySelector('[data-total="' + s + '"]');
            if (cell) { cell.textContent = num(data.by_status[s]); }
          });
          if (data.by_status.pending > 0 || data.status === "sending" || data.status === "queued") {
            window.setTimeout(refresh, 5000);
          }
        })
        .catch(function () { window.setTimeout(refresh, 15000); });
    };
    window.setTimeout(refresh, 3000);
  }

  document.addEventListener("DOMContentLoaded", function () { compose(); wave(); });
}());
