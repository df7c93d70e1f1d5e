// Vahti: background jobs' progress (long exports and redacted packages).
//
// VahtiJobs is shared by the redaction page (redact.js) and the job tables
// the server renders on the request and Exports pages. Those tables work
// without this file (state and progress as of the page load, a cancel
// form); with it, a table with data-jobs="URL" asks URL (GET
// /api/v1/jobs?request=…) once a second while a job is queued or running,
// moves the bars, and reloads the page when a job's state changes, so the
// finished package appears in the server-rendered lists.
"use strict";
var VahtiJobs = (function () {
  function active(j) { return j.state === "queued" || j.state === "running"; }
  // percent is the job's progress, 0–100 (a done job is 100).
  function percent(j) {
    if (j.state === "done") { return 100; }
    return Math.round(Math.min(1, Math.max(0, Number(j.progress) || 0)) * 100);
  }
  // bar shows j's progress in a <progress max=100> and a text element
  // (either may be null); it returns the percent.
  function bar(progress, text, j) {
    var p = percent(j);
    if (progress) { progress.value = p; }
    if (text) { text.textContent = p + " %"; }
    return p;
  }
  // watch GETs url (a {"jobs": [...]} list) once a second and calls
  // fn(jobs) with each answer; it stops when fn returns false. A lost or
  // refused answer is asked again: it is not a failed job.
  function watch(url, fn) {
    var next = function () {
      window.setTimeout(function () {
        fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (res) {
          if (!res.ok) { return null; }
          return res.json();
        }).then(function (body) {
          if (!body) { next(); return; }
          if (fn(Array.isArray(body.jobs) ? body.jobs : []) !== false) { next(); }
        }, function () { next(); });
      }, 1000);
    };
    next();
  }
  return { active: active, percent: percent, bar: bar, watch: watch };
})();

(function () {
  // note shows why a queued job waits (the API's error of a queued job,
  // e.g. for a keeper's login to open the footage keys) under its state,
  // as the server renders it, so a wait that begins while the page is open
  // shows without a reload.
  function note(tr, j) {
    if (j.state !== "queued") { return; }
    var cell = tr.querySelector(".job-state");
    if (!cell) { return; }
    var span = cell.querySelector(".job-error");
    if (!j.error) { return; }
    if (!span) {
      cell.appendChild(document.createElement("br"));
      span = document.createElement("span");
      span.className = "muted job-error";
      cell.appendChild(span);
    }
    span.textContent = String(j.error);
  }
  document.querySelectorAll("table[data-jobs]").forEach(function (table) {
    var rows = table.querySelectorAll("tr[data-job]");
    var any = false;
    Array.prototype.forEach.call(rows, function (tr) {
      any = any || VahtiJobs.active({ state: tr.getAttribute("data-state") });
    });
    if (!any) { return; }
    VahtiJobs.watch(table.getAttribute("data-jobs"), function (jobs) {
      var changed = false, still = false;
      jobs.forEach(function (j) {
        var tr = table.querySelector('tr[data-job="' + String(Number(j.id)) + '"]');
        if (!tr) { return; }
        if (tr.getAttribute("data-state") !== j.state) { changed = true; return; }
        VahtiJobs.bar(tr.querySelector("progress"), tr.querySelector(".job-percent"), j);
        note(tr, j);
        still = still || VahtiJobs.active(j);
      });
      if (changed) { window.location.reload(); return false; }
      return still;
    });
  });
})();
