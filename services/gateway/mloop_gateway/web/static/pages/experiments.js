/* Experiments: create (feature set, model configs, resource profile), run, list; recent runs
   to compare. */
(function () {
  "use strict";
  var T = window.Training, h = T.h;
  var root = document.getElementById("experiments-page");
  var sid = root.dataset.scenario;
  var base = "/api/scenarios/" + sid;
  var names = {};
  var cursor = null;
  var picked = new Set();
  var stopPolling = null;

  async function loadExperiments(more) {
    var element = document.getElementById("experiment-list");
    var filter = document.getElementById("status-filter").value;
    var path = base + "/experiments?limit=50" + (filter ? "&status=" + filter : "") +
      (more && cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
    var found = await MLoop.api("GET", path);
    var rows = more ? (loadExperiments.rows || []).concat(found.items) : found.items;
    loadExperiments.rows = rows;
    cursor = found.next_cursor;
    rows.forEach(function (e) { names[e.id] = e.name; });
    T.table(element, [
      { label: MLoop.t("experiments.name"), cell: function (e) {
        return h("a", { href: T.scenarioPath(sid, "/experiments/" + e.id), text: e.name });
      } },
      { label: MLoop.t("experiments.version"), cell: function (e) { return e.version; } },
      { label: MLoop.t("experiments.status"), cell: function (e) { return T.status(e.status); } },
      { label: MLoop.t("experiments.algorithm"), cell: function (e) { return e.algorithm; } },
      { label: MLoop.t("experiments.runs"), cell: function (e) { return String(e.runs); } },
      { label: MLoop.t("experiments.created"), cell: function (e) { return T.date(e.created_at); } },
      { label: "", cell: function (e) {
        if (!MLoop.canEdit) return "";
        return h("button", { type: "button", class: "small", text: MLoop.t("experiments.run"),
          onclick: function () { run(e.id); } });
      } }
    ], rows, element.dataset.empty);
    document.getElementById("more-experiments").hidden = !cursor;
  }

  async function loadRuns() {
    var element = document.getElementById("run-list");
    var found = await MLoop.api("GET", base + "/runs?limit=50");
    var missing = Array.from(new Set(found.items.map(function (r) { return r.experiment_id; })
      .filter(function (id) { return id && !names[id]; })));
    await Promise.all(missing.map(async function (id) {
      names[id] = T.shortId(id);
      try { names[id] = (await MLoop.api("GET", base + "/experiments/" + id)).name; } catch (error) { /* kept short */ }
    }));
    T.runTable(element, sid, found.items, {
      experiments: names, checked: picked, compareButton: document.getElementById("compare-runs")
    });
    return found.items;
  }

  async function refresh() {
    var runs = await loadRuns();
    var busy = runs.some(function (r) { return !T.finished(r); });
    if (busy && !stopPolling) stopPolling = MLoop.poll(tick, 2000);
    if (!busy && stopPolling) { stopPolling(); stopPolling = null; await loadExperiments(false); }
  }

  async function tick() {
    try { await refresh(); } catch (error) { T.fail(error); }
  }

  async function run(experimentId) {
    try {
      await MLoop.api("POST", base + "/experiments/" + experimentId + "/runs");
      await loadExperiments(false);
      await refresh();
    } catch (error) {
      T.fail(error);
    }
  }

  /* --- the create form --- */

  function option(value, text) { return h("option", { value: value, text: text }); }

  async function setUpForm() {
    var form = document.getElementById("experiment-form");
    if (!form) return;
    var sets = (await MLoop.api("GET", base + "/feature-sets")).items;
    var configs = (await MLoop.api("GET", base + "/model-configs")).items;
    var profiles = (await MLoop.api("GET", "/api/resource-profiles")).items;
    var setSelect = document.getElementById("feature-set-select");
    sets.forEach(function (s) {
      setSelect.appendChild(option(s.id, MLoop.t("experiments.feature_set_option",
        { name: s.name, version: s.version, target: s.target || "—", count: s.features.length })));
    });
    document.getElementById("no-feature-sets").hidden = sets.length > 0;
    var picks = document.getElementById("config-picks");
    configs.forEach(function (c, i) {
      picks.appendChild(h("label", { class: "inline" },
        h("input", { type: "checkbox", name: "model_configs", value: c.id, checked: i === 0,
          "data-name": c.name }),
        " " + MLoop.t("experiments.config_option", { name: c.name, version: c.version, algorithm: c.algorithm })));
    });
    document.getElementById("no-configs").hidden = configs.length > 0;
    var profileSelect = document.getElementById("profile-select");
    profiles.forEach(function (p) {
      profileSelect.appendChild(option(p.id, MLoop.t("experiments.profile_option",
        { name: p.name, version: p.version, cpu: p.cpu_cores, memory: p.memory_gb })));
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      create(form);
    });
  }

  function numberOr(text) {
    var value = Number(text);
    return text.trim() !== "" && isFinite(value) ? value : text;
  }

  /* One experiment per checked model config (named after it when several), each run at once
     when asked. */
  async function create(form) {
    MLoop.showErrors(form, null);
    var status = document.getElementById("create-status");
    var chosen = Array.prototype.slice.call(form.querySelectorAll("input[name=model_configs]:checked"));
    var evaluation = {};
    ["holdout", "cv_folds", "seed"].forEach(function (name) {
      var text = form.elements[name].value;
      if (text !== "") evaluation[name] = numberOr(text);
    });
    var common = {
      feature_set_id: form.elements.feature_set_id.value || null,
      resource_profile_id: form.elements.resource_profile_id.value || null,
      evaluation: evaluation
    };
    var name = form.elements.name.value;
    var targets = chosen.length ? chosen : [null];
    var button = document.getElementById("create-experiment");
    button.disabled = true;
    try {
      for (var i = 0; i < targets.length; i++) {
        var config = targets[i];
        var body = Object.assign({}, common, {
          name: targets.length > 1 && name.trim() ? name.trim() + "-" + config.dataset.name : name,
          model_config_id: config ? config.value : null
        });
        status.textContent = MLoop.t("experiments.creating", { done: i, total: targets.length });
        var created = await MLoop.api("POST", base + "/experiments", body);
        if (form.elements.run_now.checked) {
          await MLoop.api("POST", base + "/experiments/" + created.id + "/runs");
        }
      }
      status.textContent = MLoop.t("experiments.created_count", { count: targets.length });
      form.elements.name.value = "";
      await loadExperiments(false);
      await refresh();
    } catch (error) {
      status.textContent = "";
      MLoop.showErrors(form, error);
    } finally {
      button.disabled = false;
    }
  }

  document.getElementById("status-filter").addEventListener("change", function () {
    loadExperiments(false).catch(T.fail);
  });
  document.getElementById("more-experiments").addEventListener("click", function () {
    loadExperiments(true).catch(T.fail);
  });
  document.getElementById("compare-runs").addEventListener("click", function () {
    window.location.href = T.compareLink(sid, Array.from(picked));
  });

  loadExperiments(false).then(refresh).catch(T.fail);
  setUpForm().catch(T.fail);
})();
