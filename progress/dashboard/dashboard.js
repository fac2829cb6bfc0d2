// s3migrator dashboard: polls GET jobs, draws one row per job, starts, cancels and redrives jobs.
// Everything from the API goes into the page through textContent or attributes, never as HTML:
// keys, messages and bucket names are whatever the buckets' writers and AWS chose.
(function () {
  "use strict";

  const POLL_MS = 2000, PAGE_LIMIT = 200, FAILURE_PAGE = 50, DASH = "—";
  const MAX_PAGES = 10;         // the API pages oldest first: newest first needs every page
  const RATE_WINDOW_MS = 60000; // a rate over the last minute: steady, yet it follows a change
  const TIMEOUT_MS = 15000;     // a hung request must not stop the polling

  // A symbol and a word for each state: never colour alone.
  const STATES = { running: ["●", "running"], succeeded: ["✔", "succeeded"], failed: ["✖", "failed"],
    completed_with_failures: ["⚠", "completed with failures"] };
  const PHASES = {
    started: "started", creating_bucket: "creating the destination bucket",
    bucket_created: "destination bucket created", destination_ready: "destination ready",
    copying: "copying", redriving: "copying failed objects again",
    temporary_bucket_ready: "temporary bucket ready", copying_to_temporary: "copying to temporary",
    deleting_source: "deleting the source", waiting_for_name: "waiting for the name",
    destination_created: "destination created", copying_back: "copying back",
    removing_temporary: "removing the temporary bucket", finished: "finished",
  };
  // The bar's steps, from s3migrator/percent.py's tables: [from, to, kind] in percent.
  const STEPS = {
    copy: [[0, 5, "setup"], [5, 99, "copy"], [99, 100, "end"]],
    migrate: [[0, 5, "setup"], [5, 49, "copy"], [49, 50, "step"], [50, 55, "wait"],
      [55, 99, "copy"], [99, 100, "end"]],
  };
  const LEGEND = [["copy to temporary 6–49", "copying_to_temporary"],
    ["waiting for the name 50", "waiting_for_name"], ["copy back 56–99", "copying_back"]];

  const $ = (id) => document.getElementById(id);
  const table = $("job-table");
  const rows = new Map();    // job id -> the row's elements and last status
  const samples = new Map(); // job id -> [{t, done, bytes}] from successive polls, for rates

  // ---- numbers for people (the same rules as s3migrator/cli/figures.py) ----
  const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  function fmtBytes(n) {
    let v = Number(n) || 0, i = 0;
    for (; Math.abs(v) >= 1024 && i < UNITS.length - 1; i++) v /= 1024;
    return i === 0 ? Math.trunc(v) + " B" : v.toFixed(1) + " " + UNITS[i];
  }
  function fmtDuration(seconds) {
    let s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + " s";
    let m = Math.floor(s / 60); s %= 60;
    if (m < 60) return s && m < 10 ? m + " min " + s + " s" : m + " min";
    let h = Math.floor(m / 60); m %= 60;
    if (h < 48) return m ? h + " h " + m + " min" : h + " h";
    const d = Math.floor(h / 24); h %= 24;
    return h ? d + " d " + h + " h" : d + " d";
  }
  const fmtCount = (n) => (Number(n) || 0).toLocaleString("en");
  const plural = (n, one, many) => fmtCount(n) + " " + (n === 1 ? one : many);
  const pad = (n) => String(n).padStart(2, "0");
  function fmtTime(epoch) { // local time, as a person reads it: 2024-05-01 14:03
    const d = new Date(epoch * 1000);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  // ---- DOM helpers: every text goes through textContent ----
  function el(tag, cls, text, attrs) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    for (const name in attrs || {}) node.setAttribute(name, attrs[name]);
    return node;
  }
  // Writes only what changed, so a refresh that brings nothing new moves nothing on the page.
  function setText(node, text) { if (node.textContent !== text) node.textContent = text; }
  function show(node, visible) { if (node.hidden === visible) node.hidden = !visible; }
  function setAttr(node, name, value) {
    if (node.getAttribute(name) !== value) node.setAttribute(name, value);
  }

  // ---- the API ----
  async function api(path, method, body) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    const opts = { method: method || "GET", credentials: "same-origin", signal: ctl.signal,
      headers: { Accept: "application/json" } };
    if (opts.method === "POST") {
      // The server refuses a POST without X-S3migrator-Request: the cross-site request guard.
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-S3migrator-Request"] = "1";
      opts.body = JSON.stringify(body || {});
    }
    try {
      const res = await fetch(path, opts);
      let data = null;
      try { data = await res.json(); } catch (e) { data = null; }
      if (res.ok) return data || {};
      const why = data && (data.message || data.detail || data.error);
      throw new Error(typeof why === "string" ? why : "HTTP " + res.status);
    } catch (e) {
      if (e.name === "AbortError") throw new Error("the server did not answer in time");
      throw e.name === "TypeError" ? new Error("the server cannot be reached") : e; // fetch's network error
    } finally { clearTimeout(timer); }
  }
  const jobPath = (id, what) => "jobs/" + encodeURIComponent(id) + "/" + what;

  // ---- rate and time left, from successive polls ----
  const doneOf = (j) => (j.objects_copied || 0) + (j.objects_failed || 0) + (j.objects_deleted || 0);
  function sample(job, now) {
    let list = samples.get(job.job_id) || [];
    const last = list[list.length - 1];
    const s = { t: now, done: doneOf(job), bytes: job.bytes_copied || 0 };
    // Counters that went back (a job run again under its id) start the rate over.
    if (last && (s.done < last.done || s.bytes < last.bytes)) list = [];
    list.push(s);
    while (list.length > 2 && now - list[0].t > RATE_WINDOW_MS) list.shift();
    samples.set(job.job_id, list);
  }
  function rateOf(id) {
    const list = samples.get(id) || [];
    if (list.length < 2) return null;
    const a = list[0], b = list[list.length - 1], dt = (b.t - a.t) / 1000;
    if (dt < 1) return null;
    return { objects: Math.max(0, b.done - a.done) / dt, bytes: Math.max(0, b.bytes - a.bytes) / dt };
  }
  function rateText(job, rate) {
    if (job.state === "running") {
      return rate ? fmtBytes(rate.bytes) + "/s · " + rate.objects.toFixed(1) + " objects/s" : DASH;
    }
    const took = (job.finished_at || 0) - (job.created_at || 0);
    return job.bytes_copied && took > 0 ? "average " + fmtBytes(job.bytes_copied / took) + "/s" : DASH;
  }
  // By bytes when bytes move, else by objects; unknown while the listing still runs.
  function leftText(job, rate) {
    if (job.state !== "running") return ""; // nothing left: the rate line says how it went
    if (!job.enumeration_complete || !rate) return DASH;
    const bytesLeft = job.bytes_total - job.bytes_copied, objectsLeft = job.objects_total - doneOf(job);
    if (bytesLeft > 0 && rate.bytes > 0) return fmtDuration(bytesLeft / rate.bytes) + " left";
    if (objectsLeft > 0 && rate.objects > 0) return fmtDuration(objectsLeft / rate.objects) + " left";
    return objectsLeft <= 0 ? "finishing" : DASH;
  }

  // ---- one job: a <tbody> holding its main row and a row of details below it ----
  function makeRow(job) {
    const id = job.job_id, mode = job.mode === "migrate" ? "migrate" : "copy";
    // Explicit roles: the narrow layout's display:block must not take the table's meaning away.
    // The id is the target of a migration's "copy step" link.
    const r = { id, mode,
      body: el("tbody", "job", undefined, { "data-job-id": id, id: "job-" + id, role: "rowgroup" }) };
    const main = el("tr", "main", undefined, { role: "row" });
    const cell = (label) => main.appendChild(el("td", "", undefined, { "data-label": label, role: "cell" }));
    const head = el("th", "", undefined, { scope: "row", role: "rowheader" });
    r.jobId = el("span", "job-id", id); r.modeTag = el("span", "mode-tag", mode);
    r.route = el("div", "route"); r.when = el("div", "when");
    r.modeTag.hidden = !job.mode; // no mode: a rejected message, which the error line explains
    head.append(r.jobId, " ", r.modeTag, r.route, r.when);
    main.append(head);
    r.state = el("span", "state");
    cell("State").append(r.state);

    // The bar: its steps drawn from the phase table, the fill, the percent and phase as text.
    r.bar = el("div", "bar bar-" + mode, undefined, { role: "progressbar", "aria-valuemin": "0",
      "aria-valuemax": "100", "aria-label": "Progress of job " + id });
    for (const [from, to, kind] of STEPS[mode]) { // CSSOM styles: allowed by a strict CSP
      const seg = r.bar.appendChild(el("div", "seg seg-" + kind));
      seg.style.left = from + "%"; seg.style.width = (to - from) + "%";
    }
    r.fill = el("div", "fill"); r.bar.append(r.fill);
    r.percent = el("span", "percent"); r.phase = el("span", "phase");
    const progress = cell("Progress"), line = el("div", "bar-line");
    line.append(r.bar, r.percent);
    progress.append(line, r.phase);
    if (mode === "migrate") {
      r.legend = el("ul", "legend");
      for (const [text, phase] of LEGEND) r.legend.append(el("li", "", text, { "data-phase": phase }));
      progress.append(r.legend);
    }
    r.objects = el("div", "objects"); r.objectsMore = el("div", "sub");
    cell("Objects").append(r.objects, r.objectsMore);
    r.bytes = el("div", "bytes"); cell("Bytes").append(r.bytes);
    r.rate = el("div", "rate"); r.left = el("div", "eta"); cell("Rate, time left").append(r.rate, r.left);
    r.queue = el("div", "queue"); r.dlq = el("div", "dlq"); cell("Queue").append(r.queue, r.dlq);

    // Details: error, migration, report, failures and actions, the whole width of the table.
    r.more = el("tr", "more", undefined, { role: "row" });
    const td = r.more.appendChild(el("td", "", undefined, { colspan: "7", role: "cell" }));
    r.error = el("p", "error"); r.migration = el("div", "migration"); r.extra = el("p", "extra");
    r.failures = makeFailures(r);
    r.actions = el("div", "actions");
    r.cancel = el("button", "cancel", "Cancel", { type: "button" });
    r.redrive = el("button", "redrive", "Redrive", { type: "button" });
    // The buttons' names stay "Cancel" and "Redrive"; the job id is their description.
    r.jobId.id = "job-name-" + id;
    for (const b of [r.cancel, r.redrive]) b.setAttribute("aria-describedby", r.jobId.id);
    r.cancel.addEventListener("click", () => act(r, "cancel"));
    r.redrive.addEventListener("click", () => act(r, "redrive"));
    r.actions.append(r.cancel, r.redrive);
    td.append(r.error, r.migration, r.extra, r.failures.box, r.actions);
    r.body.append(main, r.more);
    return r;
  }

  function updateRow(r, job, now) {
    r.job = job;
    sample(job, now);
    const rate = rateOf(job.job_id);
    const [mark, word] = STATES[job.state] || ["•", String(job.state).replace(/_/g, " ")];
    setText(r.state, mark + " " + word); // the symbol and the word: never colour alone
    setAttr(r.state, "data-state", String(job.state));
    setAttr(r.body, "data-state", String(job.state));
    setText(r.route, job.source || job.destination ? job.source + " → " + job.destination : "");
    setText(r.when, "started " + fmtTime(job.created_at) + (job.finished_at
      ? " · took " + fmtDuration(job.finished_at - job.created_at) : ""));

    const pct = Math.max(0, Math.min(100, Math.round(job.percent || 0)));
    const phase = PHASES[job.phase] || String(job.phase).replace(/_/g, " ");
    setAttr(r.bar, "aria-valuenow", String(pct));
    setAttr(r.bar, "aria-valuetext", pct + "%, " + phase);
    if (r.fill.style.width !== pct + "%") r.fill.style.width = pct + "%";
    setText(r.percent, pct + "%");
    setText(r.phase, phase);
    for (const li of r.legend ? r.legend.children : []) {
      li.classList.toggle("current", li.dataset.phase === job.phase);
    }

    const running = job.state === "running";
    // A migration copies through copy jobs of its own (linked below): their rows count objects.
    const counts = job.mode !== "migrate" || job.objects_total > 0 || job.bytes_total > 0;
    const more = job.enumeration_complete || !running ? "" : "+";
    setText(r.objects, counts ? fmtCount(job.objects_copied) + " of " + fmtCount(job.objects_total) +
      (more && "+ (listing)") : DASH);
    setText(r.objectsMore, [["objects_failed", " failed"], ["objects_deleted", " deleted"],
      ["objects_verified", " verified as made"]].filter(([k]) => job[k])
      .map(([k, words]) => fmtCount(job[k]) + words).join(" · "));
    setText(r.bytes, counts ? fmtBytes(job.bytes_copied) + " of " + fmtBytes(job.bytes_total) + more : DASH);
    setText(r.rate, counts ? rateText(job, rate) : DASH);
    setText(r.left, counts ? leftText(job, rate) : DASH);
    // The work queue is shared by all jobs: only a running job's row shows it.
    setText(r.queue, running ? plural((job.queue_visible || 0) + (job.queue_in_flight || 0), "batch", "batches") +
      " queued (" + fmtCount(job.queue_in_flight) + " in flight)" : DASH);
    setText(r.dlq, running ? plural(job.dlq_visible || 0, "dead letter", "dead letters") : "");
    r.dlq.classList.toggle("warn", running && job.dlq_visible > 0);

    setText(r.error, job.error ? "✖ " + job.error : "");
    show(r.error, !!job.error);
    updateMigration(r, job);
    const report = job.report === "pending" ? "being written" : job.report;
    setText(r.extra, report ? "Report: " + report : "");
    show(r.extra, !!job.report);
    setText(r.failures.summary, "Failures (" + fmtCount(job.objects_failed) + ")");
    show(r.failures.box, job.objects_failed > 0);
    const cancelPending = !!(job.migration && job.migration.cancel_requested);
    show(r.cancel, job.mode === "migrate" && running && !cancelPending);
    show(r.redrive, job.state === "completed_with_failures");
    show(r.actions, !r.cancel.hidden || !r.redrive.hidden);
    show(r.more, [r.error, r.migration, r.extra, r.failures.box, r.actions].some((n) => !n.hidden));
  }

  // A migration's temporary bucket, the copy step (a job of its own, linked), name attempts,
  // a pending cancel and where a stopped one stopped: what migration_line says on the CLI.
  function updateMigration(r, job) {
    const m = job.migration;
    show(r.migration, !!m);
    if (!m) return;
    const key = JSON.stringify([m, job.state, job.phase]);
    if (r.migrationKey === key) return; // unchanged: leave the nodes (and any focus) alone
    r.migrationKey = key;
    const parts = [el("span", "", "Temporary bucket " + m.temporary + " · copy step "),
      el("a", "", m.copy_step, { href: "#job-" + m.copy_step }),
      el("span", "", " (its row shows the objects)")];
    if (m.name_attempts) {
      let t = " · the name asked for " + m.name_attempts + " times";
      if (m.last_name_error && job.phase === "waiting_for_name") t += ", last: " + m.last_name_error;
      if (m.name_deadline && job.state === "running") t += ", tried until " + fmtTime(m.name_deadline);
      parts.push(el("span", "", t));
    }
    const running = job.state === "running";
    if (m.cancel_requested && running) {
      parts.push(el("strong", "pending", " · cancel pending: stops at its next safe point"));
    }
    if (m.stopped_at && !running) {
      parts.push(el("strong", "", " · stopped at " + (PHASES[m.stopped_at] || m.stopped_at)));
    }
    const p = el("p"), notes = el("ul", "notes");
    p.append(...parts);
    for (const n of m.notes || []) notes.append(el("li", "", n));
    r.migration.replaceChildren(p, notes);
  }

  // ---- failures: a <details> that loads GET jobs/{id}/failures when opened ----
  function makeFailures(r) {
    const f = { box: el("details", "failures"), summary: el("summary"), list: el("ol", "flist"),
      status: el("p", "fstatus", "", { role: "status" }), next: null,
      more: el("button", "fmore", "Load more failures", { type: "button", hidden: "" }) };
    f.box.append(f.summary, f.status, f.list, f.more);
    f.box.addEventListener("toggle", () => { if (f.box.open) loadFailures(r, true); });
    f.more.addEventListener("click", () => loadFailures(r, false));
    return f;
  }
  async function loadFailures(r, first) {
    const f = r.failures;
    if (f.loading) return;
    f.loading = true;
    setText(f.status, "Loading failures…");
    let path = jobPath(r.id, "failures") + "?limit=" + FAILURE_PAGE;
    if (!first && f.next) path += "&next=" + encodeURIComponent(f.next);
    try {
      const page = await api(path);
      if (first) f.list.replaceChildren();
      for (const rec of page.failures || []) f.list.append(failureItem(rec));
      f.next = page.next || null;
      setText(f.status, f.list.children.length ? "" : "No failure recorded yet.");
    } catch (e) {
      // The job's status carries its first failures: better those than nothing.
      if (first && r.job && r.job.first_failures && r.job.first_failures.length) {
        f.list.replaceChildren(...r.job.first_failures.map(failureItem));
      }
      setText(f.status, "Could not load the failures: " + e.message);
    } finally {
      f.loading = false;
      f.more.hidden = !f.next;
    }
  }
  function failureItem(rec) {
    const li = el("li"), meta = [];
    if (rec.http_status) meta.push("HTTP " + rec.http_status);
    if (rec.attempts) meta.push(rec.attempts + (rec.attempts === 1 ? " attempt" : " attempts"));
    if (rec.size) meta.push(fmtBytes(rec.size));
    if (rec.version_id) meta.push("version " + rec.version_id);
    if (rec.delete) meta.push("a deletion");
    li.append(el("code", "key", rec.key), " ", el("span", "fcode", rec.code),
      meta.length ? el("span", "fmeta", " (" + meta.join(", ") + ")") : "",
      el("p", "fmsg", rec.message || ""));
    return li;
  }

  // ---- actions: cancel a running migration, redrive a job's failed objects ----
  async function act(r, what) {
    const job = r.job;
    const question = what === "cancel"
      ? "Stop migration " + job.job_id + " at its next safe point? (s3migrator resume goes on from there.)"
      : "Redrive job " + job.job_id + ": copy its " + fmtCount(job.objects_failed) + " failed objects again?";
    if (!window.confirm(question)) return;
    const button = what === "cancel" ? r.cancel : r.redrive;
    button.disabled = true;
    try {
      const answer = await api(jobPath(r.id, what), "POST");
      setText($("notice"), what === "cancel"
        ? "Cancel sent for " + job.job_id + ": it stops at its next safe point."
        : "Redrive of " + job.job_id + " sent " + fmtCount(answer.objects) + " objects again.");
    } catch (e) {
      setText($("notice"), "Could not " + what + " " + job.job_id + ": " + e.message);
    } finally {
      button.disabled = false;
      refresh();
    }
  }

  // ---- polling ----
  let timer = null, busy = false, again = false;
  async function refresh() {
    if (busy) { again = true; return; } // one request at a time; run once more when it ends
    busy = true; clearTimeout(timer);
    try { if (!document.hidden) await poll(); } finally {
      busy = false; timer = setTimeout(refresh, again ? 0 : POLL_MS); again = false;
    }
  }
  async function poll() {
    let jobs = [], next = null, pages = 0;
    try {
      do {
        const after = next ? "&next=" + encodeURIComponent(next) : "";
        const page = await api("jobs?limit=" + PAGE_LIMIT + after);
        jobs = jobs.concat(page.jobs || []);
        next = page.next || null;
      } while (next && ++pages < MAX_PAGES);
    } catch (e) {
      setText($("load-error"), "Could not load the jobs: " + e.message + ". Trying again every 2 s.");
      show($("load-error"), true);
      return;
    }
    show($("load-error"), false);
    render(jobs, Date.now());
    setText($("more-jobs"), next ? "Only the oldest " + fmtCount(jobs.length) + " jobs are shown." : "");
    show($("more-jobs"), !!next);
    setText($("updated"), "Updated " + new Date().toLocaleTimeString("en-GB") + " · " +
      fmtCount(jobs.length) + (jobs.length === 1 ? " job" : " jobs"));
  }

  function render(jobs, t) {
    jobs.sort((a, b) => (b.created_at - a.created_at) || (a.job_id < b.job_id ? 1 : -1));
    const seen = new Set();
    let before = table.tBodies[0] || null;
    for (const job of jobs) {
      seen.add(job.job_id);
      let r = rows.get(job.job_id);
      // A job id whose mode changed (a rejected message's id reused) gets a new bar.
      if (r && r.mode !== (job.mode === "migrate" ? "migrate" : "copy")) { r.body.remove(); r = null; }
      if (!r) { r = makeRow(job); rows.set(job.job_id, r); }
      updateRow(r, job, t);
      // Move a row only when it is out of place: open panels and focus stay where they are.
      if (r.body !== before) table.insertBefore(r.body, before);
      else before = before.nextElementSibling;
    }
    for (const [id, r] of rows) {
      if (!seen.has(id)) { r.body.remove(); rows.delete(id); samples.delete(id); }
    }
    show($("empty"), jobs.length === 0);
    const q = jobs[0]; // every status carries the same depths: the work queue is shared
    show($("queue-line"), !!q);
    if (q) {
      setText($("queue-line"), `Work queue (shared by all jobs): ${fmtCount(q.queue_visible)} batches` +
        ` waiting, ${fmtCount(q.queue_in_flight)} being copied, ${fmtCount(q.dlq_visible)} dead-lettered`);
    }
  }

  // ---- the form: start a job ----
  const form = $("start-form"), modeSelect = $("mode"), result = $("start-result");
  const confirmField = $("confirm-field"), confirmBox = $("confirm-delete");
  const confirmSlot = document.createComment("confirm");
  // The confirmation exists only for a migration: out of the form (not merely hidden) for a
  // copy, so a copy never carries it and its label is never among the form's.
  function syncMode() {
    const migrate = modeSelect.value === "migrate";
    if (migrate && !confirmField.isConnected) confirmSlot.replaceWith(confirmField);
    if (!migrate && confirmField.isConnected) confirmField.replaceWith(confirmSlot);
    show($("migrate-hint"), migrate);
  }
  function side(prefix) {
    const out = {}; // empty fields are left out: the server's defaults apply
    for (const name of ["bucket", "prefix", "region", "account_id", "role_arn"]) {
      const raw = form.elements[prefix + "_" + name].value;
      const value = name === "prefix" ? raw : raw.trim(); // a prefix is kept as typed
      if (value) out[name] = value;
    }
    return out;
  }
  function say(text, warnings) {
    const list = el("ul", "warnings");
    for (const w of warnings || []) list.append(el("li", "", "⚠ " + w));
    result.replaceChildren(el("p", "", text), list);
  }
  async function submit(event) {
    event.preventDefault();
    const migrate = modeSelect.value === "migrate";
    const bad = Array.from(form.elements).find((n) => n.willValidate && !n.checkValidity());
    if (bad) {
      const label = bad.labels && bad.labels[0] ? bad.labels[0].textContent.trim() : bad.name;
      const hint = bad.id && $(bad.id + "-hint"); // the browser's message alone says no format
      say(bad === confirmBox
        ? "Not started: a migration deletes the source bucket after its copy is verified;" +
          " tick the confirmation to start it."
        : "Not started: " + label + ": " + bad.validationMessage + (hint ? " (" + hint.textContent + ")" : ""));
      bad.focus();
      return;
    }
    const message = { mode: migrate ? "migrate" : "copy", source: side("source"),
      destination: side("destination") };
    if (migrate) message.confirm_delete_source = confirmBox.checked; // true: checked above
    const button = $("start-button");
    button.disabled = true;
    say("Starting the job…");
    try {
      const answer = await api("jobs", "POST", message);
      say("Started job " + answer.job_id + ".", answer.warnings);
      result.append(el("a", "", "Show job " + answer.job_id, { href: "#job-" + answer.job_id }));
      confirmBox.checked = false; // each migration confirms its own deletion
      refresh();
    } catch (e) {
      say("Not started: " + e.message);
    } finally {
      button.disabled = false;
    }
  }

  modeSelect.addEventListener("change", syncMode);
  form.addEventListener("submit", submit);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  syncMode();
  refresh();
})();
