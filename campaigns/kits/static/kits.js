// Lan Tỏa kits: live preview of the loudspeaker script editor (the page works without it).
(function () {
  "use strict";
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function render(root, data) {
    var box = root.querySelector("#preview");
    if (!box) { return; }
    var old = box.querySelector("#preview-error");
    if (old) { old.remove(); }
    if (!data.ok) {
      var err = el("p", "flash flash-error", data.error || "");
      err.id = "preview-error";
      box.appendChild(err);
      return;
    }
    var label = box.querySelector("#duration-label");
    if (label) { label.textContent = data.estimated_label; }
    var tooLong = data.sections.some(function (s) { return s.too_long; });
    var dur = box.querySelector("#duration");
    if (dur) { dur.classList.toggle("warn", tooLong); }
    var warn = box.querySelector("#preview-warnings");
    if (warn) {
      warn.textContent = "";
      if (data.warnings.length) {
        var ul = el("ul", "kit-warnings");
        data.warnings.forEach(function (w) { ul.appendChild(el("li", null, w)); });
        warn.appendChild(ul);
      }
    }
    var unk = box.querySelector("#unknown-tokens");
    if (unk) {
      unk.textContent = "";
      if (data.unknown_tokens.length) {
        unk.appendChild(document.createTextNode("Từ viết tắt chưa rõ cách đọc: "));
        data.unknown_tokens.forEach(function (t) {
          unk.appendChild(el("mark", "unknown", t));
          unk.appendChild(document.createTextNode(" "));
        });
      }
    }
    var secs = box.querySelector("#sections");
    if (secs) {
      secs.textContent = "";
      data.sections.forEach(function (s) {
        var d = el("div", "section" + (s.too_long ? " too-long" : ""));
        var h = el("h3", null, (s.title || "Đoạn") + " ");
        h.appendChild(el("span", "muted", "· " + s.estimated_label));
        if (s.too_long) { h.appendChild(el("span", "badge b-unconfirmed", "Quá dài")); }
        d.appendChild(h);
        var g = el("div", "grid2");
        var a = el("div"); a.appendChild(el("h4", null, "Văn bản")); a.appendChild(el("pre", "text", s.text));
        var b = el("div"); b.appendChild(el("h4", null, "Bản đọc")); b.appendChild(el("pre", "text reading", s.reading_text));
        g.appendChild(a); g.appendChild(b); d.appendChild(g); secs.appendChild(d);
      });
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector(".script-editor");
    if (!root) { return; }
    var url = root.getAttribute("data-preview-url"), csrf = root.getAttribute("data-csrf");
    var timer = null;
    function refresh() {
      var body = {};
      root.querySelectorAll("[data-preview-input]").forEach(function (i) { body[i.name] = i.value; });
      fetch(url, { method: "POST", credentials: "same-origin",
                   headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
                   body: JSON.stringify(body) })
        .then(function (r) { return r.json(); })
        .then(function (data) { render(root, data); })
        .catch(function () {});
    }
    root.querySelectorAll("[data-preview-input]").forEach(function (i) {
      i.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(refresh, 400); });
      i.addEventListener("change", refresh);
    });
  });
})();
