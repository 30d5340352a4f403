// Media pages: live low-resolution preview and render progress.
(function () {
  "use strict";
  function debounce(fn, ms) { var t; return function () { clearTimeout(t); t = setTimeout(fn, ms); }; }
  function setupPreview(form) {
    var img = document.getElementById("preview-img"), err = document.getElementById("preview-error");
    var url = form.getAttribute("data-preview-url"), lastObj = null;
    function fail(message) {
      // A failed preview must not leave the previous image on screen as if it were current.
      if (lastObj) { URL.revokeObjectURL(lastObj); lastObj = null; }
      img.removeAttribute("src"); img.removeAttribute("data-ready"); img.hidden = true;
      err.textContent = message || err.getAttribute("data-fallback"); err.hidden = false;
    }
    function refresh() {
      fetch(url, { method: "POST", body: new FormData(form), credentials: "same-origin" }).then(function (r) {
        if (r.ok) { return r.blob().then(function (b) {
          if (lastObj) { URL.revokeObjectURL(lastObj); }
          lastObj = URL.createObjectURL(b); img.src = lastObj; img.hidden = false; err.hidden = true;
          img.setAttribute("data-ready", "1");
        }); }
        return r.json().then(function (j) { fail(j && j.error && j.error.message); }, function () { fail(null); });
      }).catch(function () { fail(null); });
    }
    form.addEventListener("input", debounce(refresh, 400));
    refresh();
  }
  function setupJob(box) {
    var url = box.getAttribute("data-job-url");
    var bar = document.querySelector("#job-bar span"), status = document.getElementById("job-status");
    function poll() {
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (j) {
        bar.style.width = Math.round(100 * (j.progress || 0)) + "%";
        document.getElementById("job-bar").setAttribute("aria-valuenow", Math.round(100 * (j.progress || 0)));
        status.textContent = j.status_label || j.status;
        if (j.status === "done" && j.asset_url) {
          var a = document.getElementById("job-result"); a.href = j.asset_url; a.hidden = false; return;
        }
        if (j.status === "failed") {
          var e = document.getElementById("job-error"); e.textContent = j.error || ""; e.hidden = false; return;
        }
        setTimeout(poll, 700);
      }).catch(function () { setTimeout(poll, 2000); });
    }
    poll();
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("render-form");
    if (form) { setupPreview(form); }
    var box = document.getElementById("job");
    if (box) { setupJob(box); }
  });
})();
