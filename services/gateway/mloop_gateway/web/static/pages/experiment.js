/* One experiment: its definition, a run button, its runs (live while any is unfinished). */
(function () {
  "use strict";
  var T = window.Training, h = T.h;
  var root = document.getElementById("experiment-page");
  var sid = root.dataset.scenario, eid = root.dataset.experiment;
  var base = "/api/scenarios/" + sid;
  var picked = new Set();
  var limit = 50;
  var stopPolling = null;

  function fact(label, value) {
    return [h("dt", { text: label }), h("dd", null, value)];
  }

  async function named(path) {
    try { return await MLoop.api("GET", path); } catch (error) { return null; }
  }

  async function loadDefinition() {
    var e = await MLoop.api("GET", base + "/experiments/" + eid);
    document.getElementById("experiment-name").textContent = e.name;
    var found = await Promise.all([
      named(base + "/feature-sets/" + e.feature_set_id),
      named(base + "/model-configs/" + e.model_config_id),
      e.resource_profile_id ? named("/api/resource-profiles/" + e.resource_profile_id) : null
    ]);
    var fs = found[0], config = found[1], profile = found[2];
    var evaluation = Object.keys(e.evaluation || {}).map(function (k) {
      return k + "=" + JSON.stringify(e.evaluation[k]);
    }).join(", ");
    var facts = document.getElementById("experiment-facts");
    facts.replaceChildren();
    [
      fact(MLoop.t("experiments.status"), T.status(e.status)),
      fact(MLoop.t("experiments.version"), e.version),
      fact(MLoop.t("experiments.feature_set"), fs
        ? MLoop.t("experiments.feature_set_option", { name: fs.name, version: fs.version, target: fs.target || "—", count: fs.features.length })
        : T.shortId(e.feature_set_id)),
      fact(MLoop.t("experiments.model_config"), config
        ? MLoop.t("experiments.config_option", { name: config.name, version: config.version, algorithm: config.algorithm })
        : e.algorithm),
      fact(MLoop.t("experiments.resource_profile"), profile
        ? MLoop.t("experiments.profile_option", { name: profile.name, version: profile.version, cpu: profile.cpu_cores, memory: profile.memory_gb })
        : MLoop.t("experiments.default_resources")),
      fact(MLoop.t("experiments.evaluation"), evaluation || "—"),
      fact(MLoop.t("experiments.tags"), (e.tags || []).join(", ") || "—"),
      fact(MLoop.t("experiments.created"), T.date(e.created_at))
    ].forEach(function (pair) { pair.forEach(function (n) { facts.appendChild(n); }); });
  }

  async function loadRuns() {
    var found = await MLoop.api("GET", base + "/experiments/" + eid + "/runs?limit=" + limit);
    T.runTable(document.getElementById("run-list"), sid, found.items, {
      checked: picked, compareButton: document.getElementById("compare-runs")
    });
    document.getElementById("more-runs").hidden = !found.next_cursor;
    var busy = found.items.some(function (r) { return !T.finished(r); });
    if (busy && !stopPolling) stopPolling = MLoop.poll(tick, 1500);
    if (!busy && stopPolling) { stopPolling(); stopPolling = null; loadDefinition().catch(T.fail); }
  }

  async function tick() {
    try { await loadRuns(); } catch (error) { T.fail(error); }
  }

  var button = document.getElementById("run-experiment");
  if (button) {
    button.addEventListener("click", async function () {
      var status = document.getElementById("run-status");
      button.disabled = true;
      try {
        var run = await MLoop.api("POST", base + "/experiments/" + eid + "/runs");
        status.replaceChildren(MLoop.t("runs.started") + " ",
          h("a", { href: T.scenarioPath(sid, "/runs/" + run.id), text: T.shortId(run.id) }));
        await loadRuns();
      } catch (error) {
        status.textContent = T.problemText(error);
      } finally {
        button.disabled = false;
      }
    });
  }
  document.getElementById("compare-runs").addEventListener("click", function () {
    window.location.href = T.compareLink(sid, Array.from(picked));
  });
  document.getElementById("more-runs").addEventListener("click", function () {
    limit = Math.min(200, limit + 50);
    loadRuns().catch(T.fail);
  });

  loadDefinition().catch(T.fail);
  loadRuns().catch(T.fail);
})();
