/* Monitoring: per-feature drift, live metrics, prediction volume and latency over time (the
   monitor's windows, aggregated per time bucket in SQL by GET .../monitoring), and the drift of
   every feature in the latest measured window (GET .../monitoring/drift). */
(function () {
  "use strict";
  var root = document.getElementById("monitoring-page");
  var sid = root.dataset.scenario;
  var base = "/api/scenarios/" + sid + "/monitoring";
  var el = MLoop.el;

  var ARMS = {
    champion: MLoop.t("monitoring.arm_champion"),
    challenger: MLoop.t("monitoring.arm_challenger"),
    shadow: MLoop.t("monitoring.arm_shadow")
  };

  function armName(arm) { return ARMS[arm] || arm; }

  function number(value) {
    if (value === null || value === undefined) return "—";
    var n = Number(value);
    if (!isFinite(n)) return String(value);
    return Math.abs(n) >= 100 ? MLoop.fmt.number(n, 0) : n.toPrecision(3);
  }

  /* --- the latest drift ---------------------------------------------------------------- */

  function statistics(stats) {
    var parts = [];
    Object.keys(stats || {}).sort().forEach(function (key) {
      var value = stats[key];
      if (value === null || typeof value === "object") return;
      parts.push(key + " " + (typeof value === "number" ? number(value) : String(value)));
    });
    return parts.join(" · ");
  }

  function verdict(drifted) {
    return el("span", {
      class: "status " + (drifted ? "status-drifting" : "status-ok"),
      text: drifted ? MLoop.t("monitoring.drifted") : MLoop.t("monitoring.stable")
    });
  }

  function showDrift(report) {
    var summary = document.getElementById("drift-summary");
    var target = document.getElementById("drift-table");
    MLoop.clear(summary);
    var window_ = report.window;
    summary.appendChild(el("span", { class: "big" }, [verdict(report.drifted)]));
    summary.appendChild(el("span", {
      text: MLoop.t("monitoring.drifted_share", {
        share: report.drifted_share === null ? "—" : Math.round(report.drifted_share * 100) + "%"
      })
    }));
    summary.appendChild(el("span", {
      class: "muted",
      text: MLoop.t("monitoring.window_line", {
        start: MLoop.fmt.date(window_.start), end: MLoop.fmt.date(window_.end),
        predictions: MLoop.fmt.number(window_.predictions), arm: armName(window_.arm)
      })
    }));
    summary.appendChild(el("span", { class: "muted mono", text: MLoop.t("monitoring.model_line", { model: report.model_id.slice(0, 8) }) }));
    var rows = Object.keys(report.features).sort().map(function (name) {
      return Object.assign({ name: name }, report.features[name]);
    });
    if (report.prediction) {
      rows.push(Object.assign({ name: MLoop.t("monitoring.prediction_row"), isPrediction: true }, report.prediction));
    }
    var table = MLoop.table(target, [
      { key: "name", label: MLoop.t("monitoring.feature"), format: function (v, row) { return row.isPrediction ? el("em", { text: v }) : v; } },
      { key: "method", label: MLoop.t("monitoring.method") },
      { key: "score", label: MLoop.t("monitoring.score"), numeric: true, format: number },
      { key: "drifted", label: MLoop.t("monitoring.verdict"), format: function (v) { return verdict(v); } },
      { key: "statistics", label: MLoop.t("monitoring.other_statistics"), format: function (v) { return el("span", { class: "stats-cell", text: statistics(v) }); } }
    ], rows, { empty: MLoop.t("monitoring.no_features") });
    if (table) table.id = "drift-features";
  }

  async function loadDrift() {
    try {
      showDrift(await MLoop.api("GET", base + "/drift"));
    } catch (error) {
      if (error.status !== 404) throw error;
      MLoop.clear(document.getElementById("drift-table"));
      var summary = MLoop.clear(document.getElementById("drift-summary"));
      summary.appendChild(el("span", { class: "muted", text: (error.problem && error.problem.detail) || MLoop.t("monitoring.no_drift") }));
    }
  }

  /* --- the charts ----------------------------------------------------------------------- */

  function byArm(items) {
    var groups = {};
    items.forEach(function (item) {
      (groups[item.arm] = groups[item.arm] || []).push(item);
    });
    return groups;
  }

  function ends(items) { return items.map(function (item) { return item.end; }); }

  // Lines, with markers while there are few points (a single window shows as a dot).
  function mode(points) { return points.length < 40 ? "lines+markers" : "lines"; }

  function champions(items) {
    var found = items.filter(function (item) { return item.arm === "champion"; });
    return found.length ? found : items;
  }

  function driftCharts(items) {
    var points = champions(items);
    var features = {};
    points.forEach(function (item) { Object.keys(item.drift || {}).forEach(function (name) { features[name] = true; }); });
    var names = Object.keys(features).sort();
    var x = ends(points);
    MLoop.chart(document.getElementById("chart-drift"), names.map(function (name) {
      return {
        type: "scatter", mode: mode(points), marker: { size: 5 }, name: name, x: x, connectgaps: false,
        y: points.map(function (item) { var v = (item.drift || {})[name]; return v === undefined ? null : v; })
      };
    }), { yaxis: { title: { text: MLoop.t("monitoring.axis_score") } } });
    MLoop.chart(document.getElementById("chart-drifted"), [{
      type: "heatmap", x: x, y: names, showscale: false, zmin: 0, zmax: 1,
      colorscale: [[0, "#e3f4ec"], [1, "#c2415d"]], xgap: 1, ygap: 1,
      z: names.map(function (name) {
        return points.map(function (item) {
          if (item.drifted === null) return null;
          return (item.drifted_features || []).indexOf(name) >= 0 ? 1 : 0;
        });
      }),
      hovertemplate: "%{y} %{x}<extra></extra>"
    }], { margin: { l: 110 }, height: Math.max(220, 60 + names.length * 26) });
  }

  function metricChart(items) {
    var traces = [];
    var groups = byArm(items);
    Object.keys(groups).sort().forEach(function (arm) {
      var points = groups[arm];
      var metrics = {};
      points.forEach(function (item) { Object.keys(item.metrics || {}).forEach(function (m) { metrics[m] = true; }); });
      Object.keys(metrics).sort().forEach(function (metric) {
        traces.push({
          type: "scatter", mode: mode(points), marker: { size: 5 },
          name: Object.keys(groups).length > 1 ? metric + " · " + armName(arm) : metric,
          x: ends(points),
          y: points.map(function (item) { var v = (item.metrics || {})[metric]; return v === undefined ? null : v; })
        });
      });
    });
    MLoop.chart(document.getElementById("chart-metrics"), traces, {
      yaxis: { title: { text: MLoop.t("monitoring.axis_metric") } },
      annotations: traces.length ? [] : [{ text: MLoop.t("monitoring.no_metrics"), showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }]
    });
  }

  function volumeChart(items) {
    var groups = byArm(items);
    MLoop.chart(document.getElementById("chart-volume"), Object.keys(groups).sort().map(function (arm) {
      var points = groups[arm];
      return { type: "bar", name: armName(arm), x: ends(points), y: points.map(function (item) { return item.predictions; }) };
    }), { barmode: "stack", yaxis: { title: { text: MLoop.t("monitoring.axis_predictions") } } });
  }

  function latencyChart(items) {
    var traces = [];
    var groups = byArm(items);
    var several = Object.keys(groups).length > 1;
    Object.keys(groups).sort().forEach(function (arm) {
      var points = groups[arm];
      ["p50", "p95", "p99"].forEach(function (p) {
        traces.push({
          type: "scatter", mode: mode(points), marker: { size: 5 }, name: several ? p + " · " + armName(arm) : p,
          x: ends(points), y: points.map(function (item) { return item.latency_ms[p]; })
        });
      });
    });
    MLoop.chart(document.getElementById("chart-latency"), traces, { yaxis: { title: { text: MLoop.t("monitoring.axis_ms") } } });
  }

  async function loadSeries() {
    var seconds = Number(root.dataset.rangeSeconds);
    var since = new Date(Date.now() - seconds * 1000).toISOString();
    var query = "?since=" + encodeURIComponent(since) + "&bucket=" + encodeURIComponent(root.dataset.bucket);
    var series = await MLoop.api("GET", base + query);
    var items = series.items || [];
    document.getElementById("no-windows").hidden = items.length > 0;
    document.getElementById("charts").hidden = items.length === 0;
    if (!items.length) return;
    driftCharts(items);
    metricChart(items);
    volumeChart(items);
    latencyChart(items);
    root.dataset.points = String(items.length);
  }

  Promise.all([loadSeries(), loadDrift()]).then(function () {
    root.dataset.loaded = "true";
  }).catch(function (error) {
    MLoop.failed(document.getElementById("page-error"), error);
    root.dataset.loaded = "error";
  });
})();
