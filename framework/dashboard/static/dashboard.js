/* nestq dashboard: live refresh over the JSON API, confirmations, relative times.
 * Everything from a job is put in the page with textContent, never as HTML. */
(function () {
  "use strict";

  var body = document.body;
  var base = body.dataset.base || "";
  var page = body.dataset.page || "";
  var api = body.dataset.api || "";
  var interval = parseInt(body.dataset.poll || "2000", 10) || 2000;
  var readOnly = body.dataset.readOnly === "true";
  var LIVE_KEY = "nestq.live";

  var STATE_LABELS = {
    active: "Active", waiting: "Waiting", "waiting-children": "Waiting children", prioritized: "Prioritized",
    delayed: "Delayed",
    paused: "Paused", completed: "Completed", failed: "Failed", unknown: "Unknown"
  };

  /* --- small helpers ------------------------------------------------------------------------ */

  function seg(value) { return encodeURIComponent(String(value)); }

  function setText(el, value) {
    if (el && el.textContent !== value) { el.textContent = value; }
  }

  function make(tag, className, text) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    if (text !== undefined && text !== null) { el.textContent = String(text); }
    return el;
  }

  function duration(ms) {
    if (ms === null || ms === undefined || isNaN(ms) || ms < 0) { return "—"; }
    if (ms < 1000) { return Math.round(ms) + " ms"; }
    var s = ms / 1000;
    if (s < 60) { return s.toFixed(1) + " s"; }
    var min = Math.floor(s / 60), sec = Math.floor(s % 60);
    if (min < 60) { return pair(min, "min", sec, "s"); }
    var h = Math.floor(min / 60);
    if (h < 48) { return pair(h, "h", min % 60, "min"); }
    return pair(Math.floor(h / 24), "d", h % 24, "h");
  }

  function pair(big, bigUnit, small, smallUnit) {
    return small ? big + " " + bigUnit + " " + small + " " + smallUnit : big + " " + bigUnit;
  }

  function ago(ms) {
    if (!ms) { return ""; }
    var delta = Date.now() - ms;
    return delta >= 0 ? duration(delta) + " ago" : "in " + duration(-delta);
  }

  function absolute(ms) {
    if (!ms) { return "—"; }
    var d = new Date(ms);
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function timeEl(ms) {
    if (!ms) { return make("span", "muted", "—"); }
    var t = make("time", null, ago(ms));
    t.dataset.ms = String(ms);
    t.title = absolute(ms);
    return t;
  }

  function refreshTimes() {
    var times = document.querySelectorAll("time[data-ms]");
    for (var i = 0; i < times.length; i++) {
      setText(times[i], ago(parseInt(times[i].dataset.ms, 10)));
    }
  }

  function json(value) {
    if (value === null || value === undefined) { return ""; }
    try { return JSON.stringify(value, null, 2); } catch (e) { return String(value); }
  }

  function progressEl(value) {
    if (typeof value === "number") {
      var wrap = make("span", "progress");
      var meter = document.createElement("meter");
      meter.min = 0; meter.max = 100; meter.value = value;
      wrap.appendChild(meter);
      wrap.appendChild(make("span", "progress-text", (Math.round(value * 10) / 10) + "%"));
      return wrap;
    }
    if (value === null || value === undefined) { return make("span", "muted", "—"); }
    return make("code", "preview", JSON.stringify(value));
  }

  /* --- confirmations ------------------------------------------------------------------------- */

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    var question = (submitter && submitter.dataset && submitter.dataset.confirm) ||
      (form && form.dataset && form.dataset.confirm);
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  /* --- dark mode: follows the system unless the toggle chose ------------------------------------ */

  var THEME_KEY = "nestq.theme";
  var root = document.documentElement;

  function storedTheme() {
    try { return window.localStorage.getItem(THEME_KEY); } catch (e) { return null; }
  }

  function effectiveTheme() {
    if (root.dataset.theme) { return root.dataset.theme; }
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  var chosen = storedTheme();
  if (chosen === "dark" || chosen === "light") { root.dataset.theme = chosen; }
  var themeToggle = document.getElementById("theme-toggle");
  if (themeToggle) {
    themeToggle.addEventListener("click", function () {
      var next = effectiveTheme() === "dark" ? "light" : "dark";
      root.dataset.theme = next;
      try { window.localStorage.setItem(THEME_KEY, next); } catch (e) { /* private mode */ }
    });
  }

  /* --- JSON viewer: highlighted, collapsible, with a copy button ---------------------------------- */

  function jsonNode(value, key, depth) {
    var isArray = Array.isArray(value);
    if (value !== null && typeof value === "object") {
      var keys = isArray ? value.map(function (_, i) { return i; }) : Object.keys(value);
      var open = isArray ? "[" : "{", close = isArray ? "]" : "}";
      if (!keys.length) { return leafLine(key, make("span", "j-summary", open + close)); }
      var details = make("details");
      details.open = depth < 2 || keys.length <= 3;
      var summary = make("summary");
      if (key !== null) { appendKey(summary, key); }
      summary.appendChild(make("span", null, open));
      summary.appendChild(make("span", "j-summary",
        " " + keys.length + (isArray ? " item" : " key") + (keys.length === 1 ? "" : "s") + " "));
      details.appendChild(summary);
      var children = make("div", "j-children");
      keys.forEach(function (k) { children.appendChild(jsonNode(value[k], isArray ? null : k, depth + 1)); });
      details.appendChild(children);
      details.appendChild(make("div", null, close));
      return details;
    }
    var cls = value === null ? "j-null" : typeof value === "string" ? "j-str" :
      typeof value === "number" ? "j-num" : "j-bool";
    return leafLine(key, make("span", cls, JSON.stringify(value)));
  }

  function appendKey(el, key) {
    el.appendChild(make("span", "j-key", JSON.stringify(String(key))));
    el.appendChild(document.createTextNode(": "));
  }

  function leafLine(key, valueEl) {
    var line = make("div", "j-line");
    if (key !== null) { appendKey(line, key); }
    line.appendChild(valueEl);
    return line;
  }

  function renderJson(pre) {
    var text = pre.textContent;
    if (pre.dataset.rendered === text) { return; }
    pre.dataset.rendered = text;
    var view = pre.nextElementSibling && pre.nextElementSibling.classList.contains("json-view")
      ? pre.nextElementSibling : null;
    var value;
    try { value = JSON.parse(text); } catch (e) {
      pre.hidden = false;
      if (view) { view.hidden = true; }
      return;
    }
    if (!view) {
      view = make("div", "json-view");
      pre.parentNode.insertBefore(view, pre.nextSibling);
      addCopyButton(pre);
    }
    view.hidden = false;
    view.replaceChildren(jsonNode(value, null, 0));
    pre.hidden = true;
  }

  function addCopyButton(pre) {
    var card = pre.closest(".card");
    var head = card ? card.querySelector(".card-head") : null;
    if (!head) { return; }
    var tools = make("span", "json-tools");
    var copy = make("button", "btn btn-ghost btn-sm json-copy", "Copy");
    copy.type = "button";
    copy.addEventListener("click", function () {
      var done = function () { setText(copy, "Copied"); setTimeout(function () { setText(copy, "Copy"); }, 1500); };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(pre.textContent).then(done, function () { setText(copy, "Copy failed"); });
      } else {
        setText(copy, "Copy failed");
      }
    });
    var toggle = make("button", "btn btn-ghost btn-sm json-collapse", "Collapse all");
    toggle.type = "button";
    toggle.addEventListener("click", function () {
      var view = pre.nextElementSibling;
      var expand = toggle.textContent === "Expand all";
      var all = view ? view.querySelectorAll("details") : [];
      for (var i = 0; i < all.length; i++) { all[i].open = expand; }
      setText(toggle, expand ? "Collapse all" : "Expand all");
    });
    tools.appendChild(toggle);
    tools.appendChild(copy);
    head.appendChild(tools);
  }

  function renderAllJson() {
    var pres = document.querySelectorAll("pre[data-json]");
    for (var i = 0; i < pres.length; i++) { renderJson(pres[i]); }
  }

  /* --- bulk selection ------------------------------------------------------------------------------ */

  function selectedCount() { return document.querySelectorAll(".row-select:checked").length; }

  function updateBulk() {
    var n = selectedCount();
    setText(document.getElementById("bulk-count"), n + " selected");
    var buttons = document.querySelectorAll("[data-bulk]");
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = n === 0; }
    var all = document.getElementById("select-all");
    var boxes = document.querySelectorAll(".row-select");
    if (all) {
      all.checked = boxes.length > 0 && n === boxes.length;
      all.indeterminate = n > 0 && n < boxes.length;
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.id === "select-all") {
      var boxes = document.querySelectorAll(".row-select");
      for (var i = 0; i < boxes.length; i++) { boxes[i].checked = target.checked; }
    }
    if (target && (target.id === "select-all" || target.classList.contains("row-select"))) { updateBulk(); }
  });

  /* --- live polling -------------------------------------------------------------------------- */

  var live = document.getElementById("live-toggle");
  var liveLabel = live ? live.parentElement : null;
  var timer = null;
  var busy = false;

  function setLiveState(state) {
    if (!liveLabel) { return; }
    liveLabel.classList.toggle("on", state === "on");
    liveLabel.classList.toggle("error", state === "error");
    setText(document.getElementById("live-label"), state === "error" ? "Offline" : (state === "on" ? "Live" : "Live off"));
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = null;
    if (!live || !live.checked || !updater || !api) { return; }
    timer = setTimeout(tick, interval);
  }

  function tick() {
    if (busy || document.hidden) { schedule(); return; }
    busy = true;
    fetch(pollUrl(), { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 404 && page === "job") { return { gone: true }; }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (payload) {
        updater(payload);
        refreshTimes();
        setLiveState("on");
      })
      .catch(function () { setLiveState("error"); })
      .then(function () { busy = false; schedule(); });
  }

  function pollUrl() {
    if (page !== "queue") { return api; }
    var params = new URLSearchParams();
    params.set("state", body.dataset.state);
    params.set("page", body.dataset.pageNumber || "1");
    params.set("limit", body.dataset.limit || "25");
    if (body.dataset.name) { params.set("name", body.dataset.name); }
    return api + "?" + params.toString();
  }

  function togglePaused(root, paused) {
    var badges = root.querySelectorAll("[data-when]");
    for (var i = 0; i < badges.length; i++) {
      badges[i].hidden = badges[i].dataset.when !== (paused ? "paused" : "running");
    }
    var forms = root.querySelectorAll("form[data-states]");
    for (var j = 0; j < forms.length; j++) {
      var states = forms[j].dataset.states.split(" ");
      if (states.indexOf("paused") >= 0 || states.indexOf("running") >= 0) {
        forms[j].hidden = states.indexOf(paused ? "paused" : "running") < 0;
      }
    }
  }

  /* --- page: all queues ---------------------------------------------------------------------- */

  function updateQueues(payload) {
    var totals = {};
    payload.queues.forEach(function (q) {
      var row = document.querySelector('tr[data-queue="' + CSS.escape(q.name) + '"]');
      Object.keys(q.counts).forEach(function (state) {
        totals[state] = (totals[state] || 0) + q.counts[state];
        if (!row) { return; }
        var cell = row.querySelector('[data-count="' + state + '"]');
        if (cell) {
          setText(cell, String(q.counts[state]));
          cell.classList.toggle("zero", !q.counts[state]);
        }
      });
      if (row) {
        setText(row.querySelector("[data-total]"), String(q.total));
        togglePaused(row, q.paused);
      }
    });
    var known = document.querySelectorAll("tr[data-queue]").length;
    if (payload.queues.length !== known) { window.location.reload(); return; }
    Object.keys(totals).forEach(function (state) {
      setText(document.querySelector('[data-total-state="' + state + '"]'), String(totals[state]));
    });
  }

  /* --- page: one queue ----------------------------------------------------------------------- */

  var lastRows = null;

  function jobRow(job, state) {
    var queue = body.dataset.queue;
    var jobUrl = base + "/queues/" + seg(queue) + "/jobs/" + seg(job.id);
    var tr = make("tr");
    tr.dataset.jobId = job.id;
    if (document.getElementById("select-all")) {
      var selectCell = make("td", "select");
      var box = make("input", "row-select");
      box.type = "checkbox";
      box.name = "ids";
      box.value = job.id;
      box.setAttribute("form", "bulk-form");
      box.setAttribute("aria-label", "Select job " + job.id);
      selectCell.appendChild(box);
      tr.appendChild(selectCell);
    }
    var idCell = make("td", "mono id");
    idCell.title = job.id;
    var link = make("a", null, job.id);
    link.href = jobUrl;
    idCell.appendChild(link);
    tr.appendChild(idCell);
    if (job.corrupt) {
      var bad = make("td", "error-text", job.corrupt);
      bad.colSpan = readOnly ? 6 : 7;
      tr.appendChild(bad);
      return tr;
    }
    var nameCell = make("td", "name", job.name);
    nameCell.title = job.name;
    tr.appendChild(nameCell);
    var dataCell = make("td", "data");
    dataCell.appendChild(job.data_preview ? make("code", "preview", job.data_preview) : make("span", "muted", "—"));
    tr.appendChild(dataCell);
    var added = make("td", "nowrap");
    added.appendChild(timeEl(job.timestamp));
    tr.appendChild(added);
    var when = make("td", "nowrap");
    if (state === "active") { when.appendChild(timeEl(job.processed_on)); }
    else if (state === "delayed") { when.appendChild(timeEl(job.due_on)); }
    else if (state === "completed" || state === "failed") { when.appendChild(timeEl(job.finished_on)); }
    else { when.textContent = job.priority ? String(job.priority) : "—"; }
    tr.appendChild(when);
    tr.appendChild(make("td", "num", job.attempts_made + "/" + job.attempts));
    var detail = make("td", "detail");
    if (state === "active") { detail.appendChild(progressEl(job.progress)); }
    else if (state === "completed") { detail.appendChild(make("code", "preview", job.result_preview || "—")); }
    else if (state === "failed") {
      var reason = make("span", "error-text", job.failed_reason || "—");
      reason.title = job.failed_reason || "";
      detail.appendChild(reason);
    }
    else { detail.appendChild(make("span", "muted", job.worker || "—")); }
    tr.appendChild(detail);
    var template = document.getElementById("row-actions");
    if (template) {
      var actions = make("td", "actions");
      actions.appendChild(template.content.cloneNode(true));
      var forms = actions.querySelectorAll("form[data-job-action]");
      for (var i = 0; i < forms.length; i++) {
        forms[i].action = jobUrl + "/" + forms[i].dataset.jobAction;
        if (forms[i].dataset.jobAction === "remove") { forms[i].dataset.confirm = "Remove job " + job.id + "?"; }
      }
      tr.appendChild(actions);
    }
    return tr;
  }

  function updateQueue(payload) {
    var state = body.dataset.state;
    Object.keys(payload.counts).forEach(function (s) {
      setText(document.querySelector('.tabs [data-count="' + s + '"]'), String(payload.counts[s]));
    });
    togglePaused(document.querySelector(".page-head"), payload.paused);
    var tbody = document.getElementById("jobs-body");
    var signature = JSON.stringify(payload.jobs);
    var focused = document.activeElement;
    // Never pull a button away from under the keyboard focus, nor drop a selection: wait for the next poll.
    if (tbody && signature !== lastRows && !selectedCount() &&
        !(focused && focused !== body && tbody.contains(focused))) {
      lastRows = signature;
      var rows = document.createDocumentFragment();
      payload.jobs.forEach(function (job) { rows.appendChild(jobRow(job, state)); });
      if (!payload.jobs.length) {
        var tr = make("tr", "empty-row");
        var td = make("td", "empty", "No " + STATE_LABELS[state].toLowerCase() + " jobs" +
          (payload.name ? " named like “" + payload.name + "”" : "") + ".");
        td.colSpan = (readOnly ? 7 : 8) + (document.getElementById("select-all") ? 1 : 0);
        tr.appendChild(td);
        rows.appendChild(tr);
      }
      tbody.replaceChildren(rows);
      updateBulk();
    }
    var summary = document.getElementById("pager-summary");
    if (summary) {
      var text = payload.total
        ? (payload.start + 1) + "–" + (payload.start + payload.jobs.length) + " of " + payload.total
        : "0 jobs";
      if (!payload.complete) { text += " (only the newest 10000 were searched)"; }
      setText(summary, text);
    }
  }

  /* --- page: one job ------------------------------------------------------------------------- */

  function field(name) { return document.querySelector('[data-field="' + name + '"]'); }

  function updateJob(job) {
    if (job.gone) {
      document.getElementById("job-gone").hidden = false;
      var actions = document.getElementById("job-actions");
      if (actions) { actions.hidden = true; }
      live.checked = false;
      return;
    }
    var badge = field("state");
    if (badge) {
      badge.className = "badge badge-" + job.state;
      setText(badge, STATE_LABELS[job.state] || job.state);
    }
    setText(field("state-text"), STATE_LABELS[job.state] || job.state);
    setText(field("attempts"), job.attempts_made + " of " + job.attempts);
    var progress = field("progress");
    if (progress) {
      var key = JSON.stringify(job.progress);
      if (progress.dataset.value !== key) {
        progress.dataset.value = key;
        progress.replaceChildren(progressEl(job.progress));
      }
    }
    setText(field("worker"), job.worker || "—");
    setText(field("processed_on"), absolute(job.processed_on));
    setText(field("finished_on"), absolute(job.finished_on));
    setText(field("waited"), job.processed_on ? duration(job.processed_on - job.timestamp - (job.delay || 0)) : "—");
    setText(field("ran"), job.finished_on && job.processed_on ? duration(job.finished_on - job.processed_on) : "—");
    var failed = document.querySelector('[data-section="failed"]');
    if (failed) { failed.hidden = !job.failed_reason; }
    setText(field("failed_reason"), job.failed_reason || "");
    var stack = document.querySelector('[data-section="stacktrace"]');
    if (stack) { stack.hidden = !(job.stacktrace && job.stacktrace.length); }
    setText(field("stacktrace"), (job.stacktrace || []).join("\n\n"));
    var result = document.querySelector('[data-section="result"]');
    if (result) { result.hidden = job.return_value === null || job.return_value === undefined; }
    setText(field("return_value"), json(job.return_value));
    renderAllJson();
    var logs = field("logs");
    if (logs) { setText(logs, job.logs && job.logs.length ? job.logs.join("\n") : logs.dataset.empty); }
    var n = (job.logs || []).length;
    setText(field("log-count"), n + " line" + (n === 1 ? "" : "s"));
    var editData = document.getElementById("edit-data");
    if (editData) { editData.hidden = editData.dataset.states.split(" ").indexOf(job.state) < 0; }
    var forms = document.querySelectorAll("#job-actions form[data-states]");
    for (var i = 0; i < forms.length; i++) {
      forms[i].hidden = forms[i].dataset.states.split(" ").indexOf(job.state) < 0;
    }
  }

  /* --- start --------------------------------------------------------------------------------- */

  var updater = { queues: updateQueues, queue: updateQueue, job: updateJob }[page] || null;

  if (live) {
    var stored = null;
    try { stored = window.localStorage.getItem(LIVE_KEY); } catch (e) { stored = null; }
    live.checked = stored !== "off";
    setLiveState(live.checked ? "on" : "off");
    live.addEventListener("change", function () {
      try { window.localStorage.setItem(LIVE_KEY, live.checked ? "on" : "off"); } catch (e) { /* private mode */ }
      setLiveState(live.checked ? "on" : "off");
      if (live.checked) { tick(); } else { schedule(); }
    });
    if (!updater) { liveLabel.hidden = true; }
  }
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { schedule(); } });
  refreshTimes();
  renderAllJson();
  updateBulk();
  schedule();
})();
