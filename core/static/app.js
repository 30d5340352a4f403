// Lan Tỏa: small progressive enhancements; every page works without JavaScript.
(function () {
  "use strict";
  function refreshProgress(el) {
    var url = el.getAttribute("data-progress-url");
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
      var total = data.total || 0, counts = data.counts || {};
      var sent = counts.sent || 0, failed = (counts.failed || 0) + (counts.missed || 0);
      var other = total - sent - failed - (counts.cancelled || 0) - (counts.scheduled || 0);
      function pct(n) { return total ? (100 * n / total).toFixed(1) + "%" : "0%"; }
      el.querySelector(".p-sent").style.width = pct(sent);
      el.querySelector(".p-failed").style.width = pct(failed);
      el.querySelector(".p-other").style.width = pct(Math.max(other, 0));
      var label = el.parentNode.querySelector("[data-progress-label]");
      var lang = document.documentElement.lang === "en" ? "en" : "vi";
      if (label) { label.textContent = sent.toLocaleString(lang) + " / " + total.toLocaleString(lang); }
    }).catch(function () {});
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-progress-url]").forEach(function (el) {
      refreshProgress(el);
      setInterval(function () { refreshProgress(el); }, 2000);
    });
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (ev) {
        if (!window.confirm(f.getAttribute("data-confirm"))) { ev.preventDefault(); }
      });
    });
  });
})();
