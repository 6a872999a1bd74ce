/* Runs side by side: metrics and resource use in one table, and as bar charts. */
(function () {
  "use strict";
  var T = window.Training, h = T.h;
  var root = document.getElementById("compare-page");
  var sid = root.dataset.scenario;
  var ids = root.dataset.runs.split(",").filter(Boolean);
  var base = "/api/scenarios/" + sid;

  async function experimentNames(runs) {
    var wanted = Array.from(new Set(runs.map(function (r) { return r.experiment_id; }).filter(Boolean)));
    var names = {};
    await Promise.all(wanted.map(async function (id) {
      try { names[id] = (await MLoop.api("GET", base + "/experiments/" + id)).name; }
      catch (error) { names[id] = T.shortId(id); }
    }));
    return names;
  }

  function label(run, names) {
    var experiment = run.experiment_id ? names[run.experiment_id] : MLoop.t("runs.no_experiment");
    return experiment + " · " + T.shortId(run.id);
  }

  var RESOURCES = [
    ["peak_memory_mb", "runs.peak_memory_mb", 1],
    ["cpu_seconds", "runs.cpu_seconds", 2],
    ["wall_seconds", "runs.wall_seconds", 2]
  ];

  function showTable(runs, names, metricNames) {
    var rows = [
      { name: MLoop.t("runs.status"), cell: function (r) { return T.status(r.status); } },
      { name: MLoop.t("runs.algorithm"), cell: function (r) { return r.algorithm; } },
      { name: MLoop.t("runs.model"), cell: function (r) {
        return r.model_id ? h("a", { href: T.scenarioPath(sid, "/models#model-" + r.model_id), class: "mono", text: T.shortId(r.model_id) }) : "—";
      } }
    ];
    metricNames.forEach(function (m) {
      rows.push({ name: m, metric: true, cell: function (r) { return T.number(r.metrics[m]); } });
    });
    RESOURCES.forEach(function (res) {
      rows.push({ name: MLoop.t(res[1]), cell: function (r) { return T.number((r.resources || {})[res[0]], res[2]); } });
    });
    rows.push({ name: MLoop.t("runs.duration"), cell: function (r) { return T.duration(T.seconds(r.started_at, r.finished_at)); } });
    var columns = [{ label: "", cell: function (row) { return h("strong", { text: row.name }); } }];
    runs.forEach(function (run) {
      columns.push({
        label: label(run, names),
        class: "num",
        cell: function (row) { return row.cell(run); }
      });
    });
    var element = document.getElementById("compare-table");
    T.table(element, columns, rows, element.dataset.empty);
    var headers = element.querySelectorAll("th");
    runs.forEach(function (run, i) {
      var th = headers[i + 1];
      th.replaceChildren(h("a", { href: T.scenarioPath(sid, "/runs/" + run.id), text: label(run, names) }));
    });
    element.querySelector("table").classList.add("compare-table");
  }

  function bars(element, runs, names, keys, value) {
    var traces = runs.map(function (run) {
      return {
        type: "bar",
        name: label(run, names),
        x: keys.map(function (k) { return k[1]; }),
        y: keys.map(function (k) { var v = value(run, k[0]); return v === undefined ? null : v; })
      };
    });
    MLoop.chart(element, traces, { barmode: "group" });
  }

  async function load() {
    var runs = await Promise.all(ids.map(function (id) { return MLoop.api("GET", base + "/runs/" + id); }));
    var names = await experimentNames(runs);
    var metricNames = Array.from(new Set([].concat.apply([], runs.map(function (r) { return Object.keys(r.metrics || {}); })))).sort();
    showTable(runs, names, metricNames);
    bars(document.getElementById("chart-metrics"), runs, names,
      metricNames.map(function (m) { return [m, m]; }),
      function (run, key) { return run.metrics[key]; });
    bars(document.getElementById("chart-memory"), runs, names,
      [["peak_memory_mb", MLoop.t("runs.peak_memory_mb")]],
      function (run, key) { return (run.resources || {})[key]; });
    bars(document.getElementById("chart-time"), runs, names,
      [["cpu_seconds", MLoop.t("runs.cpu_seconds")], ["wall_seconds", MLoop.t("runs.wall_seconds")]],
      function (run, key) { return (run.resources || {})[key]; });
    root.dataset.ready = "true";
  }

  load().catch(T.fail);
})();
