// The composer's live preview: after a pause in typing (or a change of a box), the form is
// POSTed as it stands with action=preview; the server answers the previews fragment only.
// Without JavaScript the "Xem trước" button does the same with a full page.
(function () {
  "use strict";
  var form = document.getElementById("composer");
  var target = document.getElementById("previews");
  if (!form || !target || !window.fetch || !window.FormData) return;
  var timer = null;
  var seq = 0;

  function refresh() {
    var data = new FormData(form);
    data.set("action", "preview");
    var mine = ++seq;
    fetch(form.getAttribute("action") || window.location.pathname, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "X-Requested-With": "composer" }
    }).then(function (resp) {
      if (!resp.ok) throw new Error("preview");
      return resp.text();
    }).then(function (html) {
      if (mine === seq) target.innerHTML = html;
    }).catch(function () {
      if (mine === seq) target.setAttribute("aria-busy", "false");
    });
  }

  function later() {
    if (timer) window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 600);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", later);
})();
