/* One run: a live progress bar and its log, streamed from the API's server-sent events
   (GET .../runs/{id}/logs?follow=true); polling takes over if the stream breaks. */
(function () {
  "use strict";
  var T = window.Training, h = T.h;
  var root = document.getElementById("run-page");
  var sid = root.dataset.scenario, rid = root.dataset.run;
  var base = "/api/scenarios/" + sid + "/runs/" + rid;
  var lastLine = 0;
  var source = null;
  var stopPolling = null;
  var ended = false;
  var logBox = document.getElementById("run-log");

  document.getElementById("run-short").textContent = T.shortId(rid);

  function showProgress(state) {
    var percent = Math.round(Math.max(0, Math.min(1, state.progress || 0)) * 100);
    var bar = document.getElementById("run-progress");
    bar.setAttribute("aria-valuenow", String(percent));
    bar.dataset.status = state.status;
    document.getElementById("run-progress-bar").style.width = percent + "%";
    document.getElementById("run-progress-label").textContent = percent + "%";
    document.getElementById("run-status").replaceChildren(T.status(state.status));
    document.getElementById("run-message").textContent = state.message || "";
  }

  function addLines(lines) {
    if (!lines.length) return;
    var stick = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 8;
    var text = lines.filter(function (l) { return l.id > lastLine; }).map(function (l) {
      lastLine = Math.max(lastLine, l.id);
      return l.line + "\n";
    }).join("");
    logBox.appendChild(document.createTextNode(text));
    if (stick) logBox.scrollTop = logBox.scrollHeight;
  }

  function fact(label, value) { return [h("dt", { text: label }), h("dd", null, value)]; }

  var experimentName = null;

  async function nameExperiment(id) {
    try {
      experimentName = (await MLoop.api("GET", "/api/scenarios/" + sid + "/experiments/" + id)).name;
      var link = document.getElementById("experiment-link");
      if (link) link.textContent = experimentName;
    } catch (error) {
      experimentName = T.shortId(id);
    }
  }

  function showRun(run) {
    showProgress(run);
    if (run.experiment_id) {
      document.getElementById("back-link").href = T.scenarioPath(sid, "/experiments/" + run.experiment_id);
    }
    var error = document.getElementById("run-error");
    error.hidden = !run.error;
    error.textContent = run.error || "";
    var facts = document.getElementById("run-facts");
    facts.replaceChildren();
    [
      fact(MLoop.t("runs.algorithm"), run.algorithm),
      fact(MLoop.t("runs.experiment"), run.experiment_id
        ? h("a", { id: "experiment-link", href: T.scenarioPath(sid, "/experiments/" + run.experiment_id),
          text: experimentName || T.shortId(run.experiment_id) })
        : MLoop.t("runs.no_experiment")),
      fact(MLoop.t("runs.trigger"), run.trigger),
      fact(MLoop.t("runs.attempts"), String(run.attempts)),
      fact(MLoop.t("runs.worker"), run.worker || "—"),
      fact(MLoop.t("runs.created"), T.date(run.created_at)),
      fact(MLoop.t("runs.started_at"), T.date(run.started_at)),
      fact(MLoop.t("runs.finished_at"), T.date(run.finished_at)),
      fact(MLoop.t("runs.duration"), T.duration(T.seconds(run.started_at, run.finished_at))),
      fact(MLoop.t("runs.model"), run.model_id
        ? h("a", { href: T.scenarioPath(sid, "/models#model-" + run.model_id), class: "mono", text: T.shortId(run.model_id) })
        : "—")
    ].forEach(function (pair) { pair.forEach(function (n) { facts.appendChild(n); }); });
    if (T.finished(run)) showResults(run);
  }

  function showResults(run) {
    document.getElementById("results").hidden = false;
    var metrics = Object.keys(run.metrics || {}).sort().map(function (name) {
      return { name: name, value: run.metrics[name] };
    });
    T.table(document.getElementById("run-metrics"), [
      { label: MLoop.t("runs.metric"), cell: function (m) { return m.name; } },
      { label: MLoop.t("runs.value"), cell: function (m) { return T.number(m.value); } }
    ], metrics, MLoop.t("runs.no_metrics"));
    var r = run.resources || {};
    T.table(document.getElementById("run-resources"), [
      { label: MLoop.t("runs.peak_memory_mb"), cell: function () { return T.number(r.peak_memory_mb, 1); } },
      { label: MLoop.t("runs.cpu_seconds"), cell: function () { return T.number(r.cpu_seconds, 2); } },
      { label: MLoop.t("runs.wall_seconds"), cell: function () { return T.number(r.wall_seconds, 2); } }
    ], [r]);
    var trials = document.getElementById("run-trials");
    if (!run.trials || !run.trials.length) { trials.replaceChildren(); return; }
    T.table(trials, [
      { label: MLoop.t("runs.trial"), cell: function (t) { return String(t.number + 1); } },
      { label: MLoop.t("runs.algorithm"), cell: function (t) { return t.algorithm || "—"; } },
      { label: MLoop.t("runs.value"), cell: function (t) { return T.number(t.value); } },
      { label: MLoop.t("runs.trial_state"), cell: function (t) { return t.state + (t.error ? ": " + t.error : ""); } },
      { label: MLoop.t("runs.seconds"), cell: function (t) { return T.number(t.seconds, 2); } }
    ], run.trials);
  }

  function finish(run) {
    ended = true;
    if (source) { source.close(); source = null; }
    if (stopPolling) { stopPolling(); stopPolling = null; }
    document.getElementById("log-state").textContent = "";
    showRun(run);
  }

  /* Polling: the run and the log lines after the last one shown. */
  async function pollOnce() {
    if (ended) return;
    var page = await MLoop.api("GET", base + "/logs?limit=1000&after=" + lastLine);
    addLines(page.items);
    var run = await MLoop.api("GET", base);
    if (T.finished(run) && !page.next_cursor) finish(run); else showProgress(run);
  }

  function startPolling() {
    if (ended || stopPolling) return;
    document.getElementById("log-state").textContent = MLoop.t("runs.polling");
    stopPolling = MLoop.poll(function () { return pollOnce().catch(T.fail); }, 1500);
  }

  function follow() {
    if (!window.EventSource) { startPolling(); return; }
    document.getElementById("log-state").textContent = MLoop.t("runs.live");
    source = new EventSource(base + "/logs?follow=true&after=" + lastLine);
    source.addEventListener("log", function (event) { addLines([JSON.parse(event.data)]); });
    source.addEventListener("progress", function (event) { showProgress(JSON.parse(event.data)); });
    source.addEventListener("end", function (event) { finish(JSON.parse(event.data)); });
    source.onerror = function () {
      if (ended) return;
      source.close();
      source = null;
      startPolling();
    };
  }

  window.addEventListener("pagehide", function () { if (source) source.close(); });

  MLoop.api("GET", base).then(function (run) {
    showRun(run);
    if (run.experiment_id) nameExperiment(run.experiment_id);
    if (T.finished(run)) {
      return MLoop.api("GET", base + "/logs?limit=5000").then(function (page) {
        addLines(page.items);
        finish(run);
      });
    }
    follow();
  }).catch(T.fail);
})();
