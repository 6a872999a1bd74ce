/* Scenario overview: its facts, who serves it, its data files and latest experiments. */
(function () {
  "use strict";
  var M = window.MLoop, t = M.t, el = M.el;
  var sid = M.scenarioId;
  var base = "/api/scenarios/" + sid;

  function fact(list, label, value) {
    list.appendChild(el("dt", { text: label }));
    list.appendChild(el("dd", {}, [value instanceof Node ? value : String(value === null || value === undefined || value === "" ? "—" : value)]));
  }

  function model(summary) {
    if (!summary) return el("span", { class: "muted", text: t("scenarios.none_deployed") });
    var metric = summary.primary_metric
      ? " · " + summary.primary_metric + " " + M.fmt.number(summary.primary_value) : "";
    return el("span", {}, [
      el("span", { class: "mono", text: String(summary.model_id).slice(0, 8) }),
      " " + (summary.algorithm || "") + metric
    ]);
  }

  async function facts() {
    var scenario = await M.api("GET", base);
    document.getElementById("scenario-name").textContent = scenario.name;
    var list = M.clear(document.getElementById("scenario-facts"));
    fact(list, t("scenarios.task_type"), t("scenarios.task_" + scenario.task_type));
    fact(list, t("scenarios.policy"), t("scenarios.policy_" + scenario.deployment_policy));
    fact(list, t("common.description"), scenario.description);
    fact(list, t("scenarios.tags"), (scenario.tags || []).join(", "));
    fact(list, t("scenarios.default_data_path"), scenario.default_data_path);
    fact(list, t("scenarios.default_target"), scenario.default_target);
    fact(list, t("scenarios.primary_metric"), scenario.primary_metric);
    fact(list, t("common.created"), M.fmt.date(scenario.created_at));
  }

  async function serving() {
    var box = document.getElementById("scenario-serving");
    var state = await M.api("GET", base + "/deployments");
    var list = el("dl", { class: "facts" });
    fact(list, t("scenarios.champion"), model(state.champion));
    fact(list, t("scenarios.challenger"), model(state.challenger));
    fact(list, t("scenarios.mode"), state.mode);
    M.clear(box).appendChild(list);
    box.appendChild(el("p", {}, [el("a", { href: "/scenarios/" + sid + "/models", text: t("nav.models") })]));
  }

  async function data() {
    var files = await M.api("GET", base + "/data");
    M.table(document.getElementById("scenario-data"), [
      { key: "path", label: t("data.path"), format: function (value) {
        return el("a", { href: "/scenarios/" + sid + "/data#" + encodeURIComponent(value), text: value });
      } },
      { key: "versions", label: t("data.versions"), numeric: true },
      { key: function (row) { return row.latest.rows; }, label: t("data.rows"), numeric: true, format: M.fmt.number }
    ], files.items, { empty: t("data.empty") });
  }

  async function experiments() {
    var page = await M.api("GET", base + "/experiments?limit=5");
    M.table(document.getElementById("scenario-experiments"), [
      { key: "name", label: t("common.name"), format: function (value, row) {
        return el("a", { href: "/scenarios/" + sid + "/experiments/" + row.id, text: value + " " + row.version });
      } },
      { key: "algorithm", label: t("home.algorithm") },
      { key: "status", label: t("common.status"), format: function (value) { return M.status(value); } },
      { key: "created_at", label: t("common.created"), format: M.fmt.date }
    ], page.items, { empty: t("home.no_experiments") });
  }

  var notice = document.getElementById("scenario-notice");
  [facts, serving, data, experiments].forEach(function (part) {
    part().catch(function (err) { M.failed(notice, err); });
  });
})();
