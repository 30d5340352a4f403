// The assistant's widget on the public feedback page: shows the answer in place.
(function () {
  var f = document.getElementById('assistant-form');
  if (!f) { return; }
  var out = document.getElementById('assistant-answer');
  f.addEventListener('submit', function (ev) {
    ev.preventDefault();
    fetch(f.action, {method: 'POST', headers: {'Content-Type': 'application/json'},
                     body: JSON.stringify({question: document.getElementById('assistant-q').value})})
      .then(function (r) { return r.json(); })
      .then(function (d) {
        out.textContent = d.answer || (d.error && d.error.fields && d.error.fields.question) || '';
      })
      .catch(function () { out.textContent = f.getAttribute('data-error'); });
  });
})();
