/* The workflow editor: the scenario's train or predict workflow in YAML, in a monospace
   textarea with line numbers. Saving posts it; the API's 422 lists each fault with its line and
   column, and each is marked at its line (the number in the gutter and the line itself). Below,
   the workflow's runs, and the state of each step of the selected run. */
(function () {
  "use strict";
  var root = document.getElementById("workflows-page");
  var sid = root.dataset.scenario;
  var kind = root.dataset.kind;
  var base = "/api/scenarios/" + sid;
  var el = MLoop.el;
  var textarea = document.getElementById("yaml");
  var gutter = document.getElementById("gutter");
  var marks = document.getElementById("marks");
  var problems = [];
  var workflow = null;
  var runs = [];
  var selectedRun = null;
  var stopPolling = null;

  var EXAMPLES = {
    train: "steps:\n  - name: train\n    type: model_training\n    config: {algorithm: lightgbm}\n" +
      "  - name: gate\n    type: evaluation\n    needs: [train]\n    config: {gates: [\"accuracy >= 0.8\"]}\n" +
      "  - name: deploy\n    type: deployment\n    needs: [gate]\n",
    predict: "steps:\n  - name: prepare\n    type: data_preprocessing\n    config:\n      derive: {ratio: \"a / b\"}\n"
  };
  var STATES = {
    pending: MLoop.t("workflows.state_pending"),
    running: MLoop.t("workflows.state_running"),
    succeeded: MLoop.t("workflows.state_succeeded"),
    failed: MLoop.t("workflows.state_failed"),
    skipped: MLoop.t("workflows.state_skipped")
  };

  function state(value) {
    return el("span", { class: "status status-" + value, text: STATES[value] || value });
  }

  /* --- the editor ------------------------------------------------------------------------ */

  function byLine() {
    var found = {};
    problems.forEach(function (p) {
      if (!p.line) return;
      (found[p.line] = found[p.line] || []).push(p);
    });
    return found;
  }

  function describe(p) {
    return MLoop.t("workflows.problem_at", { line: p.line, column: p.column }) + " " + p.message +
      (p.path ? " (" + p.path + ")" : "");
  }

  function paint() {
    var lines = textarea.value.split("\n").length;
    var bad = byLine();
    var numbers = document.createDocumentFragment();
    var layer = document.createDocumentFragment();
    for (var n = 1; n <= lines || (bad[n] && n <= lines + 1); n += 1) {
      var here = bad[n];
      numbers.appendChild(el("div", {
        class: here ? "ln bad" : "ln", "data-line": n, text: String(n),
        title: here ? here.map(describe).join("\n") : null,
        "data-error": here ? here.map(function (p) { return p.message; }).join("; ") : null
      }));
      layer.appendChild(el("div", { class: here ? "mk bad" : "mk", "data-line": n }, here
        ? [el("span", { class: "mk-msg", text: "◀ " + here.map(function (p) { return p.message; }).join("; ") })]
        : []));
    }
    MLoop.clear(gutter).appendChild(numbers);
    MLoop.clear(marks).appendChild(layer);
    follow();
  }

  function follow() {
    var shift = "translateY(" + (-textarea.scrollTop) + "px)";
    gutter.style.transform = shift;
    marks.style.transform = shift + " translateX(" + (-textarea.scrollLeft) + "px)";
  }

  function goTo(line) {
    var text = textarea.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < text.length; i += 1) start += text[i].length + 1;
    var end = start + (text[line - 1] || "").length;
    textarea.focus();
    textarea.setSelectionRange(start, end);
    var lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 20;
    textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
    follow();
  }

  function showProblems(error) {
    var list = MLoop.clear(document.getElementById("problems"));
    var summary = document.getElementById("save-error");
    summary.textContent = "";
    problems = [];
    if (error) {
      var problem = error.problem || {};
      (problem.errors || []).forEach(function (item) {
        if (item.line) {
          problems.push(item);
        } else {
          // A fault of the request rather than of a line (not YAML, too large...).
          list.appendChild(el("li", { text: item.msg || item.message || "" }));
        }
      });
      summary.textContent = problem.detail || problem.title || error.message;
      problems.forEach(function (p) {
        list.appendChild(el("li", { "data-line": p.line, onclick: function () { goTo(p.line); } }, [
          el("span", { class: "where", text: MLoop.t("workflows.problem_at", { line: p.line, column: p.column }) }),
          " " + p.message + (p.path ? " (" + p.path + ")" : "")
        ]));
      });
    }
    paint();
  }

  textarea.addEventListener("scroll", follow);
  textarea.addEventListener("input", paint);
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Tab" && !textarea.readOnly) {  // indent with spaces, as YAML wants
      event.preventDefault();
      var at = textarea.selectionStart;
      textarea.setRangeText("  ", at, textarea.selectionEnd, "end");
      paint();
    }
  });

  function showWorkflow(found) {
    workflow = found;
    document.getElementById("no-workflow").hidden = !!found;
    document.getElementById("version-line").textContent = found
      ? MLoop.t("workflows.version_line", { version: found.version, date: MLoop.fmt.date(found.created_at) })
      : "";
    textarea.value = found ? found.source : (MLoop.canEdit ? EXAMPLES[kind] : "");
    var run = document.getElementById("run-workflow");
    if (run) run.disabled = !found;
    paint();
  }

  async function loadWorkflow() {
    try {
      showWorkflow(await MLoop.api("GET", base + "/workflows/" + kind));
    } catch (error) {
      if (error.status !== 404) throw error;
      showWorkflow(null);
    }
  }

  var form = document.getElementById("workflow-form");
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (!MLoop.canEdit) return;
    var status = document.getElementById("save-status");
    status.textContent = MLoop.t("workflows.saving");
    try {
      var saved = await MLoop.api("POST", base + "/workflows/" + kind, { yaml: textarea.value });
      showProblems(null);
      showWorkflow(saved);
      status.textContent = MLoop.t("workflows.saved", { version: saved.version });
      root.dataset.saved = String(saved.version);
    } catch (error) {
      status.textContent = "";
      showProblems(error);
      root.dataset.saved = "error";
    }
  });

  /* --- runs -------------------------------------------------------------------------------- */

  function showRuns() {
    MLoop.table(document.getElementById("run-list"), [
      { key: "started_at", label: MLoop.t("workflows.started"), format: function (v) { return MLoop.fmt.date(v); } },
      { key: "status", label: MLoop.t("workflows.status"), format: function (v) { return state(v); } },
      { key: "trigger", label: MLoop.t("workflows.trigger") },
      { key: "reason", label: MLoop.t("workflows.reason"), format: function (v) { return el("span", { class: "reason-cell", text: v }); } },
      { key: "finished_at", label: MLoop.t("workflows.finished"), format: function (v) { return v ? MLoop.fmt.date(v) : "—"; } }
    ], runs, {
      empty: MLoop.t("workflows.no_runs"),
      rowAttrs: function (row) {
        return {
          id: "run-" + row.id, "data-run": row.id,
          class: selectedRun === row.id ? "selected" : null,
          onclick: function () { selectedRun = row.id; showRuns(); loadRun(row.id).catch(report); }
        };
      }
    });
  }

  function output(value) {
    var parts = [];
    Object.keys(value || {}).forEach(function (key) {
      var v = value[key];
      if (v === null || v === undefined) return;
      parts.push(key + ": " + (typeof v === "object" ? JSON.stringify(v) : String(v)));
    });
    return parts.join(" · ");
  }

  function showRun(detail) {
    var card = document.getElementById("run-detail-card");
    card.hidden = false;
    document.getElementById("run-title").textContent = MLoop.t("workflows.steps_of", { id: detail.id.slice(0, 8) });
    var facts = MLoop.clear(document.getElementById("run-facts"));
    [
      [MLoop.t("workflows.status"), state(detail.status)],
      [MLoop.t("workflows.trigger"), detail.trigger],
      [MLoop.t("workflows.started"), MLoop.fmt.date(detail.started_at)],
      [MLoop.t("workflows.finished"), detail.finished_at ? MLoop.fmt.date(detail.finished_at) : "—"]
    ].forEach(function (pair) {
      facts.appendChild(el("dt", { text: pair[0] }));
      facts.appendChild(el("dd", {}, [pair[1]]));
    });
    var table = MLoop.table(document.getElementById("step-list"), [
      { key: "name", label: MLoop.t("workflows.step") },
      { key: "type", label: MLoop.t("workflows.type") },
      { key: "needs", label: MLoop.t("workflows.needs"), format: function (v) { return (v || []).join(", ") || "—"; } },
      { key: "status", label: MLoop.t("workflows.status"), format: function (v) { return state(v); } },
      { key: "attempts", label: MLoop.t("workflows.attempts"), format: function (v, row) { return v + " / " + row.max_attempts; } },
      { key: "error", label: MLoop.t("workflows.error"), format: function (v) { return v ? el("span", { class: "err-cell", text: v }) : ""; } },
      { key: "output", label: MLoop.t("workflows.output"), format: function (v, row) {
        if (v && v.run_id) return el("a", { href: "/scenarios/" + sid + "/runs/" + v.run_id, text: output(v) });
        return output(v);
      } }
    ], detail.steps, { empty: MLoop.t("workflows.no_steps"), rowAttrs: function (row) { return { "data-step": row.name, "data-status": row.status }; } });
    return table;
  }

  async function loadRun(id) {
    showRun(await MLoop.api("GET", base + "/workflow-runs/" + id));
  }

  async function loadRuns() {
    var page = await MLoop.api("GET", base + "/workflows/" + kind + "/runs?limit=20");
    runs = page.items || [];
    var wanted = (window.location.hash.match(/^#run-(.+)$/) || [])[1];
    if (!selectedRun && runs.length) {
      selectedRun = runs.some(function (r) { return r.id === wanted; }) ? wanted : runs[0].id;
    }
    showRuns();
    // A run just started is listed once the scheduler has taken it on.
    if (selectedRun && runs.some(function (r) { return r.id === selectedRun; })) await loadRun(selectedRun);
    return runs.some(function (r) { return r.status === "running"; });
  }

  function watch() {
    if (stopPolling) stopPolling();
    var quiet = 0;
    stopPolling = MLoop.poll(async function () {
      var busy = await loadRuns();
      quiet = busy ? 0 : quiet + 1;
      return quiet < 3;  // a few more looks after the last run finished (a new run may appear)
    }, 3000);
  }

  var runButton = document.getElementById("run-workflow");
  if (runButton) {
    runButton.addEventListener("click", async function () {
      var status = document.getElementById("save-status");
      try {
        var accepted = await MLoop.api("POST", base + "/workflows/" + kind + "/runs");
        status.textContent = MLoop.t("workflows.run_started", { id: accepted.id.slice(0, 8) });
        selectedRun = accepted.id;
        watch();
      } catch (error) {
        report(error);
      }
    });
  }

  function report(error) { MLoop.failed(document.getElementById("page-error"), error); }

  Promise.all([loadWorkflow(), loadRuns()]).then(function (found) {
    root.dataset.loaded = "true";
    if (found[1]) watch();
  }).catch(function (error) {
    report(error);
    root.dataset.loaded = "error";
  });
})();
