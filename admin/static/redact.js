// Vahti: redaction of a request's footage in the browser.
//
// The keeper draws rectangles over the picture. Each rectangle is a track
// of keyframes: its position at chosen moments, in fractions of the
// picture (0–1, origin top left) at UTC instants; between keyframes it
// moves linearly, before the first and after the last it stays put. The
// regions are the JSON of `vahti request export ID --redact regions.json`
// (shared/interface.md "Redaction regions"). Preview and the package job
// run on the server (ffmpeg); this file only draws, asks and shows.
"use strict";
(function () {
  var app = document.getElementById("redact-app");
  if (!app) { return; }
  var requestID = app.getAttribute("data-request");
  var start = Number(app.getAttribute("data-start")); // the window's start: keyframes are not earlier
  // clipStart is the wall-clock instant of the video's time 0: the clip
  // begins at the keyframe at or before the window's start (or at the
  // first footage after it); the server names it in X-Vahti-Clip-Start.
  var clipStart = start;
  var end = Number(app.getAttribute("data-end"));
  var csrf = app.getAttribute("data-csrf") || "";
  var canMake = app.getAttribute("data-canmake") === "1";
  var lang = app.getAttribute("data-lang") === "en" ? "en-GB" : "fi-FI";
  var tz = app.getAttribute("data-tz") || undefined;

  function $(id) { return document.getElementById(id); }
  // msg returns a catalog text handed over by the page; %s and %d are
  // filled in order.
  function msg(key) {
    var s = app.getAttribute("data-m-" + key) || key;
    var args = Array.prototype.slice.call(arguments, 1);
    return s.replace(/%[sd]/g, function () { return args.length ? String(args.shift()) : ""; });
  }
  function fmtFactory(opts) {
    try { return new Intl.DateTimeFormat(lang, Object.assign({ timeZone: tz }, opts)); } catch (e) { return null; }
  }
  var fmtFull = fmtFactory({ year: "numeric", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  var fmtTime = fmtFactory({ hour: "2-digit", minute: "2-digit", second: "2-digit" });
  function local(ms, short) {
    var d = new Date(ms), f = short ? fmtTime : fmtFull;
    return f ? f.format(d) : d.toISOString();
  }
  // rfc writes an instant as RFC 3339 UTC, with milliseconds only when
  // there are any.
  function rfc(ms) { return new Date(Math.round(ms)).toISOString().replace(/\.000Z$/, "Z"); }
  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }
  function r4(v) { return Math.round(v * 10000) / 10000; }
  function setText(el, s) { if (el) { el.textContent = s; } }

  // ---- The regions: per camera a mode and tracks of keyframes. ----
  var camSelect = $("redact-camera");
  var cams = {}; // id -> {mode, tracks: [{keyframes: [{t, x, y, w, h}]}]}
  if (camSelect) {
    Array.prototype.forEach.call(camSelect.options, function (o) { cams[o.value] = { mode: "keep", tracks: [] }; });
  }
  var cur = camSelect ? camSelect.value : "";
  var sel = -1;      // the selected track of the current camera
  var history = [];  // snapshots for undo
  var MINSIZE = 0.01;
  var MAXTRACKS = 16, MAXKEYFRAMES = 240; // the server's limits per camera and per track
  var SAME = 50;     // ms: a keyframe this close to another replaces it

  function camState() { return cams[cur]; }
  function snapshot() {
    history.push({ cams: JSON.stringify(cams), cur: cur, sel: sel });
    if (history.length > 200) { history.shift(); }
  }
  function normRect(r) {
    var x = clamp(r.x, 0, 1), y = clamp(r.y, 0, 1);
    return { x: x, y: y, w: clamp(r.w, 0, 1 - x), h: clamp(r.h, 0, 1 - y) };
  }
  function rectAt(track, t) {
    var k = track.keyframes, n = k.length;
    if (t <= k[0].t) { return k[0]; }
    if (t >= k[n - 1].t) { return k[n - 1]; }
    for (var i = 0; i < n - 1; i++) {
      if (t >= k[i].t && t < k[i + 1].t) {
        var f = (t - k[i].t) / (k[i + 1].t - k[i].t);
        return { x: k[i].x + (k[i + 1].x - k[i].x) * f, y: k[i].y + (k[i + 1].y - k[i].y) * f,
          w: k[i].w + (k[i + 1].w - k[i].w) * f, h: k[i].h + (k[i + 1].h - k[i].h) * f };
      }
    }
    return k[n - 1];
  }
  function keyframeAt(track, t) {
    for (var i = 0; i < track.keyframes.length; i++) {
      if (Math.abs(track.keyframes[i].t - t) < SAME) { return i; }
    }
    return -1;
  }
  // setKeyframe puts the track's rectangle r at instant t (one undo step).
  function setKeyframe(track, t, r) {
    snapshot();
    r = normRect(r);
    var kf = { t: t, x: r.x, y: r.y, w: r.w, h: r.h };
    var i = keyframeAt(track, t);
    if (i >= 0) { track.keyframes[i] = kf; } else {
      if (track.keyframes.length >= MAXKEYFRAMES) { history.pop(); say(msg("maxkeyframes", MAXKEYFRAMES)); return; }
      track.keyframes.push(kf);
      track.keyframes.sort(function (a, b) { return a.t - b.t; });
    }
    changed();
  }

  // regions is the interface.md JSON: cameras with at least one track.
  function regions() {
    var out = { cameras: {} };
    Object.keys(cams).forEach(function (id) {
      var c = cams[id];
      if (!c.tracks.length) { return; }
      out.cameras[id] = { mode: c.mode, tracks: c.tracks.map(function (tr) {
        return { keyframes: tr.keyframes.map(function (k) {
          var x = r4(k.x), y = r4(k.y);
          return { at: rfc(k.t), x: x, y: y, w: Math.min(r4(k.w), r4(1 - x)), h: Math.min(r4(k.h), r4(1 - y)) };
        }) };
      }) };
    });
    return out;
  }
  function trackCount() {
    var n = 0;
    Object.keys(cams).forEach(function (id) { n += cams[id].tracks.length; });
    return n;
  }

  // ---- The player and the canvas over it. ----
  var video = $("redact-video"), canvas = $("redact-canvas");
  var ctx = canvas ? canvas.getContext("2d") : null;
  var seek = $("redact-seek"), clock = $("redact-clock"), status = $("redact-status");
  var drag = null; // {kind: "draw"|"move"|"resize", ...}

  // now is the instant of the frame on screen, inside the window (a
  // keyframe outside the request's range is refused by the server).
  function now() { return video ? clamp(Math.round(clipStart + video.currentTime * 1000), start, end) : start; }
  function say(s) { setText(status, s); }

  // content is where the picture is inside the video element (the
  // element may be wider or taller than the picture).
  function content() {
    var w = video.clientWidth, h = video.clientHeight, vw = video.videoWidth, vh = video.videoHeight;
    if (!vw || !vh || !w || !h) { return { x: 0, y: 0, w: w, h: h }; }
    var s = Math.min(w / vw, h / vh);
    return { x: (w - vw * s) / 2, y: (h - vh * s) / 2, w: vw * s, h: vh * s };
  }
  function resize() {
    if (!canvas) { return; }
    var dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(video.clientWidth * dpr));
    canvas.height = Math.max(1, Math.round(video.clientHeight * dpr));
    draw();
  }
  function toFrac(ev) {
    var b = canvas.getBoundingClientRect(), c = content();
    return { x: clamp((ev.clientX - b.left - c.x) / c.w, 0, 1), y: clamp((ev.clientY - b.top - c.y) / c.h, 0, 1) };
  }
  function shownRect(i, t) {
    if (drag && drag.track === i && drag.rect) { return drag.rect; }
    return rectAt(camState().tracks[i], t);
  }
  function draw() {
    if (!ctx) { return; }
    var dpr = window.devicePixelRatio || 1, c = content(), t = now(), cs = camState();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!cs) { return; }
    var rects = [];
    for (var i = 0; i < cs.tracks.length; i++) { rects.push(shownRect(i, t)); }
    if (drag && drag.kind === "draw" && drag.rect) { rects.push(drag.rect); }
    var px = function (r) { return { x: c.x + r.x * c.w, y: c.y + r.y * c.h, w: r.w * c.w, h: r.h * c.h }; };
    // What will be blurred is shaded: outside the areas (keep) or inside (blur).
    ctx.fillStyle = "rgba(20, 30, 45, 0.62)";
    if (cs.mode === "keep") {
      ctx.fillRect(c.x, c.y, c.w, c.h);
      rects.forEach(function (r) { var p = px(r); ctx.clearRect(p.x, p.y, p.w, p.h); });
    } else {
      rects.forEach(function (r) { var p = px(r); ctx.fillRect(p.x, p.y, p.w, p.h); });
    }
    rects.forEach(function (r, i) {
      var p = px(r), selected = i === sel || (drag && drag.kind === "draw" && i === rects.length - 1);
      var onKey = i < cs.tracks.length && keyframeAt(cs.tracks[i], t) >= 0;
      ctx.lineWidth = selected ? 3 : 2;
      ctx.strokeStyle = selected ? "#ffd400" : "#ffffff";
      ctx.setLineDash(onKey || selected ? [] : [6, 4]);
      ctx.strokeRect(p.x, p.y, p.w, p.h);
      ctx.setLineDash([]);
      if (i < cs.tracks.length) {
        ctx.fillStyle = selected ? "#ffd400" : "#ffffff";
        ctx.font = "bold 14px system-ui, sans-serif";
        ctx.fillText(String(i + 1), p.x + 4, p.y + 16);
      }
      if (i === sel) {
        corners(p).forEach(function (q) { ctx.fillRect(q.x - 5, q.y - 5, 10, 10); });
      }
    });
  }
  function corners(p) {
    return [{ x: p.x, y: p.y, c: "nw" }, { x: p.x + p.w, y: p.y, c: "ne" }, { x: p.x, y: p.y + p.h, c: "sw" }, { x: p.x + p.w, y: p.y + p.h, c: "se" }];
  }
  function hit(f) {
    var cs = camState(), t = now();
    for (var i = cs.tracks.length - 1; i >= 0; i--) {
      var r = rectAt(cs.tracks[i], t);
      if (f.x >= r.x && f.x <= r.x + r.w && f.y >= r.y && f.y <= r.y + r.h) { return i; }
    }
    return -1;
  }
  function cornerHit(ev) {
    if (sel < 0) { return null; }
    var b = canvas.getBoundingClientRect(), c = content(), r = rectAt(camState().tracks[sel], now());
    var p = { x: c.x + r.x * c.w, y: c.y + r.y * c.h, w: r.w * c.w, h: r.h * c.h };
    var mx = ev.clientX - b.left, my = ev.clientY - b.top, found = null;
    corners(p).forEach(function (q) { if (Math.abs(q.x - mx) <= 10 && Math.abs(q.y - my) <= 10) { found = q.c; } });
    return found;
  }
  // addArea starts a track at the current moment (one undo step).
  function addArea(rect) {
    if (camState().tracks.length >= MAXTRACKS) { say(msg("maxareas", MAXTRACKS)); return; }
    snapshot();
    var r = normRect(rect), t = now();
    camState().tracks.push({ keyframes: [{ t: t, x: r.x, y: r.y, w: r.w, h: r.h }] });
    sel = camState().tracks.length - 1;
    changed();
    draw();
    say(msg("keyframe", sel + 1, local(t, true)));
  }
  function select(i) {
    sel = i;
    renderTracks();
    draw();
    if (i >= 0) { say(msg("area", i + 1)); }
  }

  if (canvas && video) {
    canvas.addEventListener("pointerdown", function (ev) {
      if (ev.button !== undefined && ev.button !== 0) { return; }
      ev.preventDefault();
      canvas.focus();
      video.pause();
      try { canvas.setPointerCapture(ev.pointerId); } catch (e) { /* synthetic events have no capture */ }
      var f = toFrac(ev), corner = cornerHit(ev);
      if (corner) {
        var r = rectAt(camState().tracks[sel], now());
        // The corner opposite the grabbed one stays put.
        var ax = corner.indexOf("w") >= 0 ? r.x + r.w : r.x, ay = corner.indexOf("n") >= 0 ? r.y + r.h : r.y;
        drag = { kind: "resize", track: sel, ax: ax, ay: ay, rect: r };
        return;
      }
      var i = hit(f);
      if (i >= 0) {
        select(i);
        var rr = rectAt(camState().tracks[i], now());
        drag = { kind: "move", track: i, dx: f.x - rr.x, dy: f.y - rr.y, rect: rr, moved: false };
        return;
      }
      select(-1);
      drag = { kind: "draw", x0: f.x, y0: f.y, rect: null };
    });
    canvas.addEventListener("pointermove", function (ev) {
      if (!drag) {
        canvas.style.cursor = cornerHit(ev) ? "nwse-resize" : (hit(toFrac(ev)) >= 0 ? "move" : "crosshair");
        return;
      }
      var f = toFrac(ev);
      if (drag.kind === "draw") {
        drag.rect = { x: Math.min(drag.x0, f.x), y: Math.min(drag.y0, f.y), w: Math.abs(f.x - drag.x0), h: Math.abs(f.y - drag.y0) };
      } else if (drag.kind === "move") {
        var r = drag.rect;
        drag.rect = { x: clamp(f.x - drag.dx, 0, 1 - r.w), y: clamp(f.y - drag.dy, 0, 1 - r.h), w: r.w, h: r.h };
        drag.moved = true;
      } else {
        drag.rect = { x: Math.min(drag.ax, f.x), y: Math.min(drag.ay, f.y), w: Math.abs(f.x - drag.ax), h: Math.abs(f.y - drag.ay) };
      }
      draw();
    });
    var finish = function () {
      if (!drag) { return; }
      var d = drag, t = now();
      drag = null;
      if (d.kind === "draw") {
        if (d.rect && d.rect.w >= MINSIZE && d.rect.h >= MINSIZE) { addArea(d.rect); }
        draw();
        return;
      }
      if (d.kind === "move" && !d.moved) { draw(); return; }
      if (d.rect && d.rect.w >= MINSIZE && d.rect.h >= MINSIZE) {
        setKeyframe(camState().tracks[d.track], t, d.rect);
        say(msg("keyframe", d.track + 1, local(t, true)));
      }
      draw();
    };
    canvas.addEventListener("pointerup", finish);
    canvas.addEventListener("pointercancel", function () { drag = null; draw(); });
    canvas.addEventListener("keydown", function (ev) {
      if (ev.key === " ") { ev.preventDefault(); $("redact-play").click(); return; }
      if (ev.key === "Enter") { ev.preventDefault(); $("redact-keyframe").click(); return; }
      if (sel < 0 || ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].indexOf(ev.key) < 0) { return; }
      ev.preventDefault();
      var step = ev.shiftKey ? 0.05 : 0.01, tr = camState().tracks[sel], r = rectAt(tr, now());
      var dx = ev.key === "ArrowLeft" ? -step : ev.key === "ArrowRight" ? step : 0;
      var dy = ev.key === "ArrowUp" ? -step : ev.key === "ArrowDown" ? step : 0;
      if (ev.altKey) { // Alt: the size, the upper left corner stays
        setKeyframe(tr, now(), { x: r.x, y: r.y, w: clamp(r.w + dx, MINSIZE, 1 - r.x), h: clamp(r.h + dy, MINSIZE, 1 - r.y) });
      } else {
        setKeyframe(tr, now(), { x: clamp(r.x + dx, 0, 1 - r.w), y: clamp(r.y + dy, 0, 1 - r.h), w: r.w, h: r.h });
      }
      draw();
    });

    // Player controls: the seek bar runs over the window, in seconds.
    var playing = false;
    var tick = function () { draw(); showClock(); if (playing) { window.requestAnimationFrame(tick); } };
    var showClock = function () {
      setText(clock, local(now()));
      if (seek && document.activeElement !== seek) { seek.value = String(video.currentTime); }
    };
    video.addEventListener("loadedmetadata", function () {
      var dur = isFinite(video.duration) ? video.duration : (end - clipStart) / 1000;
      if (seek) { seek.max = String(dur); }
      resize();
    });
    video.addEventListener("play", function () { playing = true; setText($("redact-play"), "❚❚"); tick(); });
    video.addEventListener("pause", function () { playing = false; setText($("redact-play"), "▶"); draw(); });
    video.addEventListener("seeked", function () { showClock(); draw(); renderTracks(); });
    video.addEventListener("timeupdate", showClock);
    video.addEventListener("error", function () { $("redact-player-error").hidden = false; });
    if (window.ResizeObserver) { new ResizeObserver(resize).observe(video); } else { window.addEventListener("resize", resize); }
    $("redact-play").addEventListener("click", function () {
      if (video.paused) { video.play().catch(function () { /* shown by the error event */ }); } else { video.pause(); }
    });
    $("redact-play").textContent = "▶";
    $("redact-back1").addEventListener("click", function () { video.currentTime = Math.max(0, video.currentTime - 1); });
    $("redact-fwd1").addEventListener("click", function () { video.currentTime = video.currentTime + 1; });
    if (seek) { seek.addEventListener("input", function () { video.currentTime = Number(seek.value); }); }

    // Without a mouse: a new area in the middle, then the arrow keys.
    $("redact-new").addEventListener("click", function () {
      addArea({ x: 0.35, y: 0.25, w: 0.3, h: 0.5 });
      canvas.focus();
    });
    $("redact-keyframe").addEventListener("click", function () {
      if (sel < 0) { say(msg("selectfirst")); return; }
      var t = now(), tr = camState().tracks[sel];
      setKeyframe(tr, t, rectAt(tr, t));
      say(msg("keyframe", sel + 1, local(t, true)));
      draw();
    });
  }

  function undo() {
    var h = history.pop();
    if (!h) { say(msg("nothingundo")); return; }
    cams = JSON.parse(h.cams);
    if (h.cur !== cur && camSelect) { camSelect.value = h.cur; switchCamera(); }
    sel = h.sel < camState().tracks.length ? h.sel : -1;
    changed();
    draw();
    say(msg("undone"));
  }
  function removeSelected() {
    if (sel < 0) { say(msg("selectfirst")); return; }
    snapshot();
    camState().tracks.splice(sel, 1);
    var n = sel + 1;
    sel = -1;
    changed();
    draw();
    say(msg("deleted", n));
  }
  if ($("redact-undo")) { $("redact-undo").addEventListener("click", undo); }
  if ($("redact-delete")) { $("redact-delete").addEventListener("click", removeSelected); }
  document.addEventListener("keydown", function (ev) {
    var tag = ev.target && ev.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") { return; }
    if ((ev.key === "Delete" || ev.key === "Backspace") && sel >= 0) { ev.preventDefault(); removeSelected(); }
    else if ((ev.ctrlKey || ev.metaKey) && (ev.key === "z" || ev.key === "Z")) { ev.preventDefault(); undo(); }
    else if (ev.key === "Escape") { select(-1); }
  });

  // ---- Cameras and modes. ----
  function showMode() {
    var m = camState() ? camState().mode : "keep";
    var keep = $("redact-mode-keep"), blur = $("redact-mode-blur");
    if (keep) { keep.checked = m === "keep"; blur.checked = m === "blur"; }
    if ($("redact-mode-hint-keep")) { $("redact-mode-hint-keep").hidden = m !== "keep"; $("redact-mode-hint-blur").hidden = m !== "blur"; }
  }
  // loadClip plays one clip of the window. The clip begins at the keyframe
  // at or before the asked start; a codec change or a damaged segment ends
  // it early, and the next part is asked for from its end. The server
  // names both in X-Vahti-Clip-Start and -End; one byte of the same URL
  // is the same audited viewing.
  var firstSrc = "";
  function loadClip(src, first) {
    if (first) { firstSrc = src; }
    clipStart = start;
    video.src = src;
    video.load();
    $("redact-nextclip").hidden = true;
    $("redact-firstclip").hidden = first;
    fetch(src, { credentials: "same-origin", headers: { "Range": "bytes=0-0" } }).then(function (res) {
      var iso = function (h) { return h ? Date.parse(h.replace(/(\.\d{3})\d+/, "$1")) : NaN; };
      var t = iso(res.headers.get("X-Vahti-Clip-Start")), e = iso(res.headers.get("X-Vahti-Clip-End"));
      if (res.body && res.body.cancel) { res.body.cancel(); }
      if (video.getAttribute("src") !== src) { return; } // another clip was asked for meanwhile
      if (isFinite(t)) {
        clipStart = t;
        app.setAttribute("data-clipstart", String(t));
      }
      var u = new URL(src, window.location.href), to = iso(u.searchParams.get("to"));
      if (isFinite(e) && isFinite(to) && e < to - 1000) { // footage after this clip, in the window
        u.searchParams.set("from", new Date(Math.ceil(e) + 1).toISOString());
        var b = $("redact-nextclip");
        b.hidden = false;
        b.onclick = function () { loadClip(u.pathname + u.search, false); };
      }
      draw();
      renderTracks();
    }, function () { /* the video's own error event says it */ });
  }
  if ($("redact-firstclip")) { $("redact-firstclip").addEventListener("click", function () { loadClip(firstSrc, true); }); }
  function switchCamera() {
    cur = camSelect.value;
    sel = -1;
    var o = camSelect.options[camSelect.selectedIndex];
    if (video) {
      $("redact-player-error").hidden = o.getAttribute("data-video") === "1";
      loadClip(o.getAttribute("data-src"), true);
    }
    showMode();
    renderTracks();
    draw();
  }
  if (camSelect) { camSelect.addEventListener("change", switchCamera); }
  document.querySelectorAll("input[name=redact-mode]").forEach(function (r) {
    r.addEventListener("change", function () {
      if (r.checked && camState()) { camState().mode = r.value; showMode(); changed(); draw(); }
    });
  });

  // ---- The list of areas, the JSON link. ----
  function renderTracks() {
    var ul = $("redact-tracks");
    if (!ul || !camState()) { return; }
    ul.textContent = "";
    var t = now();
    camState().tracks.forEach(function (tr, i) {
      var li = document.createElement("li");
      if (i === sel) { li.className = "selected"; }
      var b = document.createElement("button");
      b.type = "button";
      b.className = "area";
      b.textContent = msg("area", i + 1);
      b.addEventListener("click", function () { select(i); });
      li.appendChild(b);
      var kfs = document.createElement("span");
      kfs.className = "keyframes";
      tr.keyframes.forEach(function (k) {
        var kb = document.createElement("button");
        kb.type = "button";
        kb.className = "keyframe link" + (Math.abs(k.t - t) < SAME ? " here" : "");
        kb.textContent = local(k.t, true);
        kb.addEventListener("click", function () { if (video) { video.pause(); video.currentTime = Math.max(0, (k.t - clipStart) / 1000); } select(i); });
        kfs.appendChild(kb);
      });
      li.appendChild(kfs);
      if (tr.keyframes.length === 1) {
        var fx = document.createElement("span");
        fx.className = "muted";
        fx.textContent = " " + msg("fixed");
        li.appendChild(fx);
      }
      ul.appendChild(li);
    });
    if ($("redact-notracks")) { $("redact-notracks").hidden = camState().tracks.length > 0; }
  }
  function changed() {
    renderTracks();
    var a = $("redact-json");
    if (a) { a.href = "data:application/json;charset=utf-8," + encodeURIComponent(JSON.stringify(regions(), null, 2) + "\n"); }
  }

  // ---- The server: availability, preview, jobs. ----
  function api(method, path, body) {
    var opt = { method: method, credentials: "same-origin", headers: { "Accept": "application/json", "X-CSRF-Token": csrf } };
    if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
    return fetch(path, opt).then(function (res) {
      return res.text().then(function (txt) {
        var j = null;
        try { j = JSON.parse(txt); } catch (e) { j = null; }
        return { status: res.status, ok: res.ok, body: j || {} };
      });
    });
  }
  // failure words an API refusal in the keeper's language.
  function failure(res, key) {
    var detail = res.body && res.body.error ? String(res.body.error) : String(res.status);
    if (res.status === 403) { return msg("forbidden"); }
    if (res.status === 409 || res.status === 503) { return detail; } // localised by the server (no ffmpeg, a finished job)
    if (res.status === 400 && key === "makefailed") { return msg("badregions", detail); }
    return msg(key, detail);
  }
  var available = false, unavailableReason = "";
  var previewBtn = $("redact-preview"), previewNowBtn = $("redact-preview-now"), makeBtn = $("redact-make");
  function enableButtons() {
    var on = available && !!camSelect;
    if (previewBtn) { previewBtn.disabled = !on; previewNowBtn.disabled = !on; }
    if (makeBtn) { makeBtn.disabled = !(on && canMake) || busy; }
  }
  var busy = false;

  function checkAvailable() {
    var box = $("redact-unavailable");
    api("GET", "/api/v1/redaction").then(function (res) {
      available = res.ok && res.body.available === true;
      if (res.ok && res.body.ffmpeg) { setText($("redact-ffmpeg"), "ffmpeg: " + res.body.ffmpeg); $("redact-ffmpeg").hidden = false; }
      if (!available) {
        // The server's reason is in the keeper's language and names what
        // to install; without one (an old server) say it plainly.
        unavailableReason = res.body.reason || msg("unavailable", res.body.error || String(res.status));
        setText($("redact-unavailable-reason"), unavailableReason);
        box.hidden = false;
      }
      enableButtons();
    }, function () {
      setText($("redact-unavailable-reason"), msg("network"));
      box.hidden = false;
    });
  }

  // moments: the current camera's keyframes (up to four, spread over
  // them), or the current moment when it has none.
  function moments() {
    var ts = [];
    camState().tracks.forEach(function (tr) { tr.keyframes.forEach(function (k) { if (ts.indexOf(k.t) < 0) { ts.push(k.t); } }); });
    ts.sort(function (a, b) { return a - b; });
    if (!ts.length) { return [now()]; }
    if (ts.length <= 4) { return ts; }
    var out = [];
    for (var i = 0; i < 4; i++) { out.push(ts[Math.round(i * (ts.length - 1) / 3)]); }
    return out;
  }
  function preview(ts) {
    var st = $("redact-preview-status"), box = $("redact-frames");
    var regs = regions();
    if (!regs.cameras[cur]) {
      // No areas here: in keep mode the whole picture is blurred, which
      // the preview can show; in blur mode there is nothing to preview.
      if (camState().mode !== "keep") { setText(st, msg("noareas")); return; }
      regs.cameras[cur] = { mode: "keep", tracks: [] };
    }
    setText(st, msg("previewing"));
    previewBtn.disabled = previewNowBtn.disabled = true;
    box.textContent = "";
    api("POST", "/api/v1/requests/" + requestID + "/redact/preview", { redact: regs, camera: cur, at: ts.map(rfc) }).then(function (res) {
      enableButtons();
      if (!res.ok) { setText(st, failure(res, "previewfailed")); return; }
      var frames = res.body.frames || [];
      setText(st, msg("previewat", frames.map(function (f) { return local(Date.parse(f.at), true); }).join(", ")));
      frames.forEach(function (f) {
        var pair = document.createElement("div");
        pair.className = "redact-pair";
        [["original", f.original], ["redacted", f.redacted]].forEach(function (x) {
          if (typeof x[1] !== "string" || x[1].indexOf("data:image/") !== 0) { return; }
          var fig = document.createElement("figure"), img = document.createElement("img"), cap = document.createElement("figcaption");
          img.src = x[1];
          img.className = "preview-" + x[0];
          // The frame shown is the decodable one nearest the moment.
          img.alt = msg(x[0]) + " " + local(Date.parse(String(f.shown || f.at).replace(/(\.\d{3})\d+/, "$1")), true);
          cap.textContent = img.alt;
          fig.appendChild(img);
          fig.appendChild(cap);
          pair.appendChild(fig);
        });
        box.appendChild(pair);
      });
    }, function () { enableButtons(); setText(st, msg("network")); });
  }
  if (previewBtn) {
    previewBtn.addEventListener("click", function () { preview(moments()); });
    previewNowBtn.addEventListener("click", function () { preview([now()]); });
  }

  // Jobs: the request's list, and the one being followed with the bar.
  var followed = null, pollTimer = null;
  var active = VahtiJobs.active; // jobs.js, shared with the request and Exports pages
  function packageLink(id) {
    var a = document.createElement("a");
    a.href = "/requests/" + requestID + "?package=" + encodeURIComponent(id);
    a.textContent = id;
    a.className = "package-link";
    return a;
  }
  function renderJobs(jobs) {
    var tb = document.querySelector("#redact-jobs tbody");
    if (!tb) { return; }
    tb.textContent = "";
    if (!jobs.length) {
      var tr0 = document.createElement("tr"), td0 = document.createElement("td");
      td0.colSpan = 6;
      td0.className = "muted";
      td0.textContent = msg("nojobs");
      tr0.appendChild(td0);
      tb.appendChild(tr0);
      return;
    }
    jobs.forEach(function (j) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-job", j.id);
      var cells = [local(Date.parse(j.created)) + (j.created_by ? " (" + j.created_by + ")" : ""),
        msg(/redact/.test(j.kind || "") ? "redactedjob" : "plainjob"), msg("state-" + j.state),
        VahtiJobs.percent(j) + " %"];
      cells.forEach(function (s, i) {
        var td = document.createElement("td");
        td.textContent = s;
        if (i === 2) { td.className = "job-state"; }
        if (i === 2 && j.state === "failed" && j.error) { td.appendChild(document.createElement("br")); td.appendChild(document.createTextNode(j.error)); }
        tr.appendChild(td);
      });
      var tdp = document.createElement("td");
      if (j.package) { tdp.appendChild(packageLink(j.package)); }
      tr.appendChild(tdp);
      var tdc = document.createElement("td");
      if (active(j)) {
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = msg("cancel");
        b.addEventListener("click", function () { cancel(j.id); });
        tdc.appendChild(b);
      }
      tr.appendChild(tdc);
      tb.appendChild(tr);
    });
  }
  function loadJobs() {
    return api("GET", "/api/v1/jobs?request=" + encodeURIComponent(requestID)).then(function (res) {
      if (!res.ok) { return []; }
      var jobs = Array.isArray(res.body) ? res.body : (res.body.jobs || []);
      renderJobs(jobs);
      return jobs;
    }, function () { return []; });
  }
  function showJob(j) {
    var box = $("redact-job"), st = $("redact-make-status");
    box.hidden = false;
    VahtiJobs.bar($("redact-progress"), $("redact-percent"), j);
    setText($("redact-jobstate"), msg("state-" + j.state));
    box.setAttribute("data-state", j.state);
    $("redact-cancel").hidden = !active(j);
    st.textContent = "";
    if (j.state === "done" && j.package) {
      st.appendChild(document.createTextNode(msg("done", j.package) + " "));
      var a = packageLink(j.package);
      a.id = "redact-package";
      a.textContent = msg("openpackage");
      st.appendChild(a);
    } else if (j.state === "failed") {
      st.textContent = msg("jobfailed", j.error || "");
    }
  }
  function follow(j) {
    followed = j;
    showJob(j);
    if (pollTimer) { window.clearTimeout(pollTimer); pollTimer = null; }
    if (!active(j)) { busy = false; enableButtons(); loadJobs(); return; }
    busy = true;
    enableButtons();
    pollTimer = window.setTimeout(function () {
      api("GET", "/api/v1/jobs/" + encodeURIComponent(j.id)).then(function (res) {
        if (res.ok && res.body.id) { if (res.body.state !== j.state) { loadJobs(); } follow(res.body); return; }
        setText($("redact-make-status"), failure(res, "makefailed"));
        if (res.status === 404 || res.status === 403) { busy = false; enableButtons(); return; }
        follow(j); // keep asking: a lost answer is not a failed job
      }, function () { setText($("redact-make-status"), msg("network")); follow(j); });
    }, 1000);
  }
  function cancel(id) {
    if (!window.confirm(msg("cancelask"))) { return; }
    api("DELETE", "/api/v1/jobs/" + encodeURIComponent(id)).then(function (res) {
      if (!res.ok) { setText($("redact-make-status"), failure(res, "cancelfailed")); }
      loadJobs();
    }, function () { setText($("redact-make-status"), msg("network")); });
  }
  if ($("redact-cancel")) { $("redact-cancel").addEventListener("click", function () { if (followed) { cancel(followed.id); } }); }
  if (makeBtn) {
    makeBtn.addEventListener("click", function () {
      var st = $("redact-make-status");
      if (!trackCount()) { setText(st, msg("noareas")); return; }
      busy = true;
      enableButtons();
      setText(st, msg("started"));
      api("POST", "/api/v1/requests/" + requestID + "/jobs", { redact: regions(), keep_audio: !!$("redact-audio").checked }).then(function (res) {
        if (!res.ok || !res.body.job) { busy = false; enableButtons(); setText(st, failure(res, "makefailed")); return; }
        loadJobs();
        follow(res.body.job);
      }, function () { busy = false; enableButtons(); setText(st, msg("network")); });
    });
  }

  // Start: the first camera, the availability, the jobs already running.
  if (camSelect) { switchCamera(); }
  changed();
  checkAvailable();
  loadJobs().then(function (jobs) {
    var running = jobs.filter(active);
    if (running.length) { follow(running[running.length - 1]); }
  });
})();
