// Vahti admin UI: small progressive enhancements. Everything works
// without this file except the wall-clock display during playback.
"use strict";
(function () {
  // Ask before destructive form submissions (data-confirm="question").
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });

  // Print buttons on receipts and reports (no inline script under the CSP).
  document.querySelectorAll("[data-print]").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });

  // Exports take a while: show it and prevent double submission.
  var ex = document.getElementById("export-form");
  if (ex) {
    ex.addEventListener("submit", function () {
      var b = document.getElementById("export-submit");
      if (b) { b.disabled = true; b.textContent = ex.getAttribute("data-busy") || b.textContent; }
    });
  }

  // Day view: a click on recorded footage plays from the clicked minute,
  // not only from the start of the stretch (the links alone do that).
  var tl = document.getElementById("timeline");
  if (tl) {
    tl.addEventListener("click", function (e) {
      var link = e.target.closest && e.target.closest("a");
      if (!link) { return; }
      var r = tl.getBoundingClientRect();
      var from = Number(tl.getAttribute("data-from")), to = Number(tl.getAttribute("data-to"));
      var t = from + (to - from) * Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
      t = Math.floor(t / 60000) * 60000;
      e.preventDefault();
      window.location.href = "/cameras/" + encodeURIComponent(tl.getAttribute("data-camera")) +
        "/play?from=" + encodeURIComponent(new Date(t).toISOString().replace(/\.\d+Z$/, "Z"));
    });
  }

  // Playback: show the wall-clock time of the frame on screen, in the
  // site's time zone, whatever the viewing computer's zone is.
  var v = document.getElementById("player");
  var clock = document.getElementById("clock");
  if (v && clock) {
    var start = Number(v.getAttribute("data-start"));
    var fmt;
    try {
      fmt = new Intl.DateTimeFormat(v.getAttribute("data-lang") === "en" ? "en-GB" : "fi-FI", {
        timeZone: v.getAttribute("data-tz") || undefined,
        year: "numeric", month: "numeric", day: "numeric",
        hour: "2-digit", minute: "2-digit", second: "2-digit"
      });
    } catch (e) { fmt = null; }
    var show = function () {
      var d = new Date(start + v.currentTime * 1000);
      clock.textContent = fmt ? fmt.format(d) : d.toISOString();
    };
    // The clip begins at the keyframe at or before the asked start, so
    // the video's time 0 is that frame, not the window's start: the server
    // names it in X-Vahti-Clip-Start. Without it the clock would be early
    // by up to a keyframe interval (footage misdated). One byte of the
    // same URL is the same audited viewing.
    var locked = false;
    if (window.fetch && v.getAttribute("src")) {
      fetch(v.getAttribute("src"), { credentials: "same-origin", headers: { "Range": "bytes=0-0" } }).then(function (res) {
        if (res.status === 423) { // sealed footage, no keeper's key open
          var lk = document.getElementById("player-locked");
          if (lk) { lk.hidden = false; }
          locked = true;
        }
        var h = res.headers.get("X-Vahti-Clip-Start");
        if (res.body && res.body.cancel) { res.body.cancel(); }
        var t = h ? Date.parse(h.replace(/(\.\d{3})\d+/, "$1")) : NaN;
        if (isFinite(t)) {
          start = t;
          v.setAttribute("data-clipstart", String(t));
          show();
        }
      }, function () { /* the video's own error event says it */ });
    }
    v.addEventListener("timeupdate", show);
    // No footage in the window (404) or a network failure: say so in
    // words instead of leaving a black box.
    v.addEventListener("error", function () {
      var msg = document.getElementById(locked ? "player-locked" : "player-error");
      if (msg) { msg.hidden = false; }
    });
    v.addEventListener("seeked", show);
  }
})();
