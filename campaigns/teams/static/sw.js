/* Service worker of the team app: keeps the app shell for offline use (network
   first, so a new version arrives when online). The API is never cached here:
   visits wait in IndexedDB and the materials are stored there by the app. */
var CACHE = "lantoa-teams-v1";
var SHELL = ["/to-cong-nghe/", "/to-cong-nghe/static/app.js", "/to-cong-nghe/static/app.css",
             "/to-cong-nghe/static/icon.svg", "/to-cong-nghe/manifest.webmanifest"];

self.addEventListener("install", function (ev) {
  ev.waitUntil(caches.open(CACHE).then(function (c) { return c.addAll(SHELL); }).then(function () { return self.skipWaiting(); }));
});
self.addEventListener("activate", function (ev) {
  ev.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k !== CACHE; }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});
self.addEventListener("fetch", function (ev) {
  var url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || url.origin !== location.origin || SHELL.indexOf(url.pathname) < 0) return;
  ev.respondWith(fetch(ev.request).then(function (resp) {
    if (resp.ok) { var copy = resp.clone(); caches.open(CACHE).then(function (c) { c.put(ev.request, copy); }); }
    return resp;
  }).catch(function () {
    return caches.match(ev.request, { ignoreSearch: true }).then(function (hit) { return hit || Response.error(); });
  }));
});
