/* Phone app of the community digital-technology teams: visits are kept in
   IndexedDB and sent to POST /api/v1/visits (idempotent by client_id) on the
   `online` event, on opening, and with the "Đồng bộ" button. */
(function () {
  "use strict";
  var T = JSON.parse(document.getElementById("texts").textContent);
  var DB_NAME = "lantoa-teams", dbp = null, syncing = null, again = false;

  function db() {
    if (!dbp) {
      dbp = new Promise(function (resolve, reject) {
        var req = indexedDB.open(DB_NAME, 1);
        req.onupgradeneeded = function () {
          req.result.createObjectStore("visits", { keyPath: "client_id" });
          req.result.createObjectStore("meta");
        };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { reject(req.error); };
      });
    }
    return dbp;
  }
  function tx(store, mode, fn) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var t = d.transaction(store, mode), s = t.objectStore(store), out = fn(s);
        t.oncomplete = function () { resolve(out && "result" in out ? out.result : out); };
        t.onerror = function () { reject(t.error); };
      });
    });
  }
  var getMeta = function (k) { return tx("meta", "readonly", function (s) { return s.get(k); }); };
  var setMeta = function (k, v) { return tx("meta", "readwrite", function (s) { s.put(v, k); }); };
  var allVisits = function () { return tx("visits", "readonly", function (s) { return s.getAll(); }); };
  var putVisit = function (v) { return tx("visits", "readwrite", function (s) { s.put(v); }); };

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function el(tag, text, cls) { var e = document.createElement(tag); if (text) e.textContent = text; if (cls) e.className = cls; return e; }
  function fmtDate(iso) { var d = new Date(iso); return ("0" + d.getDate()).slice(-2) + "/" + ("0" + (d.getMonth() + 1)).slice(-2) + "/" + d.getFullYear() + " " + ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2); }

  function showNet() { document.getElementById("net").textContent = navigator.onLine ? T.online : T.offline; }

  function renderQueue() {
    return allVisits().then(function (rows) {
      rows.sort(function (a, b) { return a.visited_at < b.visited_at ? 1 : -1; });
      var ul = document.getElementById("queue"); ul.textContent = "";
      var waiting = 0;
      rows.forEach(function (v) {
        var state = v.server_id ? T.synced : v.error ? T.rejected + ": " + v.error : T.waiting;
        if (!v.server_id && !v.error) waiting++;
        var li = el("li", fmtDate(v.visited_at) + " · " + v.hamlet + " · " + v.household_label + " · " + v.people.length + " " + T.people + " · " + state);
        li.dataset.state = v.server_id ? "synced" : v.error ? "rejected" : "waiting";
        if (v.conflict) li.appendChild(el("span", " · " + T.conflict, "conflict"));
        ul.appendChild(li);
      });
      document.getElementById("queue-count").textContent = String(waiting);
    });
  }

  function renderTeam(info) {
    if (!info) return;
    document.getElementById("who").textContent = (info.name || "") + (info.team ? " · " + T.team + ": " + info.team.name : "");
    var sel = document.getElementById("hamlet"), keep = sel.value; sel.textContent = "";
    ((info.team && info.team.hamlets) || []).forEach(function (h) { var o = el("option", h); o.value = h; sel.appendChild(o); });
    if (keep) sel.value = keep;
  }

  function renderMaterials(m) {
    if (!m || !m.campaigns) return;
    var box = document.getElementById("materials"); box.textContent = "";
    m.campaigns.forEach(function (c) {
      var sec = el("article"); sec.appendChild(el("h3", c.title));
      c.scripts.forEach(function (s) { sec.appendChild(el("h4", s.title)); sec.appendChild(el("p", s.text)); });
      if (c.qr_svg) {
        var q = el("div", null, "qr");
        var img = new Image(); img.alt = c.link; img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(c.qr_svg);
        q.appendChild(img); q.appendChild(el("p", c.link)); sec.appendChild(q);
      }
      box.appendChild(sec);
    });
  }

  function signIn() {
    /* With the cookie session from /login: a token for this phone, kept in IndexedDB. */
    return fetch("/to-cong-nghe/token", { method: "POST", credentials: "same-origin", headers: { "X-Lantoa-App": "1" } })
      .then(function (r) { return r.ok && (r.headers.get("Content-Type") || "").indexOf("json") >= 0 ? r.json() : null; })
      .then(function (data) {
        if (!data || !data.token) return null;
        return setMeta("auth", data).then(function () { return data; });
      })
      .catch(function () { return null; });
  }

  function auth() {
    return getMeta("auth").then(function (a) { return a || (navigator.onLine ? signIn() : null); });
  }

  function loadMaterials(a) {
    return fetch("/api/v1/team-materials", { headers: { Authorization: "Bearer " + a.token } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (m) {
        if (!m) return;
        a.team = m.team; renderTeam(a);
        return Promise.all([setMeta("auth", a), setMeta("materials", m)]).then(function () { renderMaterials(m); });
      }).catch(function () {});
  }

  function sync() {
    if (syncing) { again = true; return syncing; }  /* one more run once this one ends */
    var out = document.getElementById("sync-result");
    syncing = auth().then(function (a) {
      if (!a) { document.getElementById("signin").hidden = false; out.textContent = T.need_login; return; }
      return allVisits().then(function (rows) {
        var todo = rows.filter(function (v) { return !v.server_id && !v.error; }), sent = 0, failed = false;
        var chain = Promise.resolve();
        todo.forEach(function (v) {
          chain = chain.then(function () {
            if (failed) return;
            var payload = { client_id: v.client_id, hamlet: v.hamlet, household_label: v.household_label, people: v.people,
                            follow_up_on: v.follow_up_on || null, visited_at: v.visited_at, receipt_photo: v.receipt_photo || "" };
            return fetch("/api/v1/visits", { method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + a.token },
                                             body: JSON.stringify(payload) })
              .then(function (r) {
                if (r.status === 401) { failed = true; return setMeta("auth", null); }
                return r.json().then(function (data) {
                  if (r.status === 200 || r.status === 201) { v.server_id = data.id; v.conflict = data.conflict; delete v.receipt_photo; sent++; }
                  else if (r.status === 422) { v.error = Object.values((data.error && data.error.fields) || {}).join(" ") || data.error.message; }
                  else { failed = true; return; }
                  return putVisit(v);
                });
              }, function () { failed = true; });
          });
        });
        /* the queue is redrawn before the result is told, so the count never lags the message */
        return chain.then(renderQueue).then(function () {
          out.textContent = failed && !sent ? T.sync_failed : T.sync_done.replace("{n}", String(sent));
          if (!failed) return loadMaterials(a);
        });
      });
    }).then(renderQueue, renderQueue).then(function () {
      syncing = null;
      if (again) { again = false; return sync(); }
    }, function () { syncing = null; });
    return syncing;
  }

  function addPerson() {
    var box = document.getElementById("people"), node = document.getElementById("person-tpl").content.cloneNode(true);
    node.querySelector(".n").textContent = String(box.children.length + 1);
    box.appendChild(node);
  }

  function readPhoto() {
    var f = document.getElementById("photo").files[0];
    if (!f) return Promise.resolve("");
    return new Promise(function (resolve) { var r = new FileReader(); r.onload = function () { resolve(r.result); }; r.onerror = function () { resolve(""); }; r.readAsDataURL(f); });
  }

  function onSubmit(ev) {
    ev.preventDefault();
    var err = document.getElementById("form-error"); err.textContent = "";
    var hamlet = document.getElementById("hamlet").value, label = document.getElementById("household").value.trim();
    if (!hamlet) { err.textContent = T.need_hamlet; return; }
    if (!label) { err.textContent = T.need_label; return; }
    var people = [], bad = false;
    document.querySelectorAll("#people fieldset").forEach(function (fs) {
      var actions = []; fs.querySelectorAll("input[type=checkbox]:not(.refused)").forEach(function (c) { if (c.checked) actions.push(c.value); });
      var refused = fs.querySelector(".refused").checked;
      if (!actions.length && !refused) { bad = true; return; }
      var p = { actions: refused ? [] : actions };
      if (refused) { p.refused = true; p.reason = fs.querySelector(".reason").value.trim(); }
      people.push(p);
    });
    if (bad || !people.length) { err.textContent = T.need_action; return; }
    readPhoto().then(function (photo) {
      var v = { client_id: uuid(), hamlet: hamlet, household_label: label, people: people,
                follow_up_on: document.getElementById("follow-up").value || null, visited_at: new Date().toISOString(), receipt_photo: photo };
      return putVisit(v);
    }).then(function () {
      ev.target.reset(); document.getElementById("hamlet").value = hamlet;
      document.getElementById("people").textContent = ""; addPerson();
      document.getElementById("sync-result").textContent = T.saved;
      return renderQueue();
    }).then(function () { if (navigator.onLine) sync(); });
  }

  document.getElementById("add-person").addEventListener("click", addPerson);
  document.getElementById("visit-form").addEventListener("submit", onSubmit);
  document.getElementById("sync").addEventListener("click", function () { sync(); });
  window.addEventListener("online", function () { showNet(); sync(); });
  window.addEventListener("offline", showNet);
  showNet(); addPerson();
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/to-cong-nghe/sw.js", { scope: "/to-cong-nghe/" }).catch(function () {});
  Promise.all([getMeta("auth"), getMeta("materials")]).then(function (r) {
    renderTeam(r[0]); renderMaterials(r[1]);
    if (!r[0] && !navigator.onLine) document.getElementById("signin").hidden = false;
    return renderQueue();
  }).then(sync);
})();
