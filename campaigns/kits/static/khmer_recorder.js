// Lan Tỏa kits: record the Khmer reading of a bulletin in the browser (MediaRecorder),
// listen back, send. Without MediaRecorder (or JavaScript) the upload form still works.
(function () {
  "use strict";
  var MAX_SECONDS = 600;

  function pickType() {
    var types = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"];
    for (var i = 0; i < types.length; i++) {
      if (window.MediaRecorder.isTypeSupported && window.MediaRecorder.isTypeSupported(types[i])) {
        return types[i];
      }
    }
    return "";
  }

  function clock(seconds) {
    var s = Math.floor(seconds);
    return Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2);
  }

  function setup(box) {
    var start = box.querySelector(".rec-start");
    var stop = box.querySelector(".rec-stop");
    var timer = box.querySelector(".rec-timer");
    var preview = box.querySelector(".rec-preview");
    var send = box.querySelector(".rec-send");
    var message = box.querySelector(".rec-message");
    var recorder = null, chunks = [], blob = null, began = 0, tick = null, stream = null;

    function say(text, isError) {
      message.textContent = text || "";
      message.className = "rec-message" + (isError ? " flash flash-error" : "");
    }

    function finish() {
      if (tick) { clearInterval(tick); tick = null; }
      timer.classList.remove("recording");
      start.disabled = false;
      stop.disabled = true;
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    }

    start.addEventListener("click", function () {
      say("");
      send.hidden = true;
      preview.hidden = true;
      navigator.mediaDevices.getUserMedia({ audio: true }).then(function (s) {
        stream = s;
        var type = pickType();
        recorder = type ? new MediaRecorder(s, { mimeType: type }) : new MediaRecorder(s);
        chunks = [];
        recorder.ondataavailable = function (e) { if (e.data && e.data.size) { chunks.push(e.data); } };
        recorder.onstop = function () {
          blob = new Blob(chunks, { type: recorder.mimeType || type || "audio/webm" });
          preview.src = URL.createObjectURL(blob);
          preview.hidden = false;
          send.hidden = false;
          say(box.dataset.msgReady);
          finish();
        };
        recorder.start(250);
        began = Date.now();
        timer.textContent = "0:00";
        timer.classList.add("recording");
        start.disabled = true;
        stop.disabled = false;
        tick = setInterval(function () {
          var secs = (Date.now() - began) / 1000;
          timer.textContent = clock(secs);
          if (secs >= MAX_SECONDS && recorder.state === "recording") { recorder.stop(); }
        }, 250);
      }).catch(function () {
        finish();
        say(box.dataset.msgDenied, true);
      });
    });

    stop.addEventListener("click", function () {
      if (recorder && recorder.state === "recording") { recorder.stop(); }
    });

    send.addEventListener("click", function () {
      if (!blob) { return; }
      var ext = /ogg/.test(blob.type) ? "ogg" : (/mp4/.test(blob.type) ? "m4a" : "webm");
      var form = new FormData();
      form.append("csrf_token", box.dataset.csrf);
      form.append("item_id", box.dataset.itemId);
      form.append("source", "recorded");
      form.append("audio", blob, "ban-doc-tieng-khmer." + ext);
      send.disabled = true;
      say(box.dataset.msgSending);
      fetch(box.dataset.url, {
        method: "POST",
        body: form,
        credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRFToken": box.dataset.csrf }
      }).then(function (resp) {
        return resp.json().catch(function () { return { ok: false }; });
      }).then(function (data) {
        send.disabled = false;
        if (data.ok) {
          say(data.message);
          send.hidden = true;
          box.dataset.sent = "1";
          setTimeout(function () { window.location.reload(); }, 2500);
        } else {
          say(data.error || box.dataset.msgFailed, true);
        }
      }).catch(function () {
        send.disabled = false;
        say(box.dataset.msgFailed, true);
      });
    });
  }

  function init() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.MediaRecorder) {
      return; // the upload form stays
    }
    var boxes = document.querySelectorAll(".khmer-recorder");
    for (var i = 0; i < boxes.length; i++) {
      boxes[i].hidden = false;
      setup(boxes[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
