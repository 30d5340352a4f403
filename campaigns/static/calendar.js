// Calendar: drag an entry to another day to reschedule it (same time of day).
// The server checks everything again (role, state, past time, duplicates); its
// message (Vietnamese) is shown in #cal-message when it refuses.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var grid = document.getElementById("cal-grid");
    if (!grid || !grid.getAttribute("data-move-url")) { return; }
    var url = grid.getAttribute("data-move-url"), csrf = grid.getAttribute("data-csrf");
    var box = document.getElementById("cal-message"), dragged = null;
    grid.addEventListener("dragstart", function (ev) {
      var a = ev.target.closest ? ev.target.closest("a[data-kind]") : null;
      if (!a) { return; }
      dragged = a;
      ev.dataTransfer.effectAllowed = "move";
      ev.dataTransfer.setData("text/plain", a.getAttribute("data-kind") + ":" + a.getAttribute("data-id"));
      a.classList.add("dragging");
    });
    grid.addEventListener("dragend", function () {
      if (dragged) { dragged.classList.remove("dragging"); }
      Array.prototype.forEach.call(grid.querySelectorAll(".drop-target"), function (td) { td.classList.remove("drop-target"); });
    });
    grid.addEventListener("dragover", function (ev) {
      var td = ev.target.closest ? ev.target.closest("td[data-date]") : null;
      if (!td || !dragged) { return; }
      ev.preventDefault();
      ev.dataTransfer.dropEffect = "move";
      td.classList.add("drop-target");
    });
    grid.addEventListener("dragleave", function (ev) {
      var td = ev.target.closest ? ev.target.closest("td[data-date]") : null;
      if (td) { td.classList.remove("drop-target"); }
    });
    grid.addEventListener("drop", function (ev) {
      var td = ev.target.closest ? ev.target.closest("td[data-date]") : null;
      if (!td || !dragged) { return; }
      ev.preventDefault();
      var a = dragged;
      dragged = null;
      if (a.closest("td") === td) { return; }
      var body = new FormData();
      body.append("csrf_token", csrf);
      body.append("kind", a.getAttribute("data-kind"));
      body.append("id", a.getAttribute("data-id"));
      body.append("date", td.getAttribute("data-date"));
      fetch(url, { method: "POST", body: body, credentials: "same-origin",
                   headers: { "Accept": "application/json" } }).then(function (r) {
        return r.json().then(function (j) { return { ok: r.ok, j: j }; });
      }).then(function (res) {
        if (res.ok) { window.location.reload(); return; }
        box.textContent = (res.j && res.j.error && res.j.error.message) || box.getAttribute("data-fallback");
        box.hidden = false;
      }).catch(function () {
        box.textContent = box.getAttribute("data-fallback");
        box.hidden = false;
      });
    });
  });
})();
