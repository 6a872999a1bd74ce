/* Home: counts, what needs a look, the latest experiments and runs (GET /api/overview). */
(function () {
  "use strict";
  var M = window.MLoop, t = M.t, el = M.el;

  function scenarioLink(row) {
    return el("a", { href: "/scenarios/" + row.scenario_id, text: row.scenario_name });
  }

  function attentionText(item) {
    var vars = { scenario: item.scenario_name, detail: item.detail || "" };
    if (item.kind === "drift") return t("home.alert_drift", vars);
    if (item.kind === "performance") return t("home.alert_performance", vars);
    if (item.kind === "workflow_failed") return t("home.alert_workflow_failed", vars);
    return item.detail ? t("home.alert_run_failed_detail", vars) : t("home.alert_run_failed", vars);
  }

  function attentionLink(item) {
    var base = "/scenarios/" + item.scenario_id;
    if (item.kind === "drift" || item.kind === "performance") return base + "/monitoring";
    if (item.kind === "workflow_failed") return base + "/workflows";
    return base + "/runs/" + item.id;
  }

  function showAttention(items) {
    var box = M.clear(document.getElementById("attention"));
    items.forEach(function (item) {
      var kind = item.kind === "drift" || item.kind === "performance" ? "warn" : "error";
      box.appendChild(el("div", { class: "notice " + kind, "data-kind": item.kind }, [
        el("span", { text: attentionText(item) }),
        el("span", { class: "muted small", text: M.fmt.date(item.at) }),
        el("a", { href: attentionLink(item), text: t("common.open") })
      ]));
    });
  }

  function showCounts(data) {
    var values = {
      scenarios: data.counts.scenarios,
      experiments: data.experiments.total,
      running: data.experiments.running,
      completed: data.experiments.completed,
      failed: data.experiments.failed,
      model_configs: data.counts.model_configs,
      deployed_models: data.counts.deployed_models
    };
    Object.keys(values).forEach(function (name) {
      var card = document.querySelector('[data-count="' + name + '"] .value');
      if (card) card.textContent = M.fmt.number(values[name]);
    });
    document.getElementById("experiment-breakdown").textContent =
      t("home.planned", { n: M.fmt.number(data.experiments.planned) });
  }

  function showRecent(data) {
    M.table(document.getElementById("recent-experiments"), [
      { key: "name", label: t("common.name"), format: function (value, row) {
        return el("a", { href: "/scenarios/" + row.scenario_id + "/experiments/" + row.id, text: value + " " + row.version });
      } },
      { key: "scenario_name", label: t("home.scenario"), format: function (v, row) { return scenarioLink(row); } },
      { key: "status", label: t("common.status"), format: function (value) { return M.status(value); } },
      { key: "created_at", label: t("common.created"), format: M.fmt.date }
    ], data.recent_experiments, { empty: t("home.no_experiments") });
    M.table(document.getElementById("recent-runs"), [
      { key: "algorithm", label: t("home.algorithm"), format: function (value, row) {
        return el("a", { href: "/scenarios/" + row.scenario_id + "/runs/" + row.id, text: value });
      } },
      { key: "scenario_name", label: t("home.scenario"), format: function (v, row) { return scenarioLink(row); } },
      { key: "status", label: t("common.status"), format: function (value) { return M.status(value); } },
      { key: "progress", label: t("home.progress"), numeric: true, format: function (value) {
        return Math.round((value || 0) * 100) + "%";
      } },
      { key: "created_at", label: t("common.created"), format: M.fmt.date }
    ], data.recent_runs, { empty: t("home.no_runs") });
  }

  async function load() {
    try {
      var data = await M.api("GET", "/api/overview");
      showAttention(data.attention);
      showCounts(data);
      showRecent(data);
    } catch (err) {
      M.failed(document.getElementById("attention"), err);
    }
  }

  document.getElementById("home-refresh").addEventListener("click", load);
  load();
})();
