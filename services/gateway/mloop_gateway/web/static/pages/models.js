/* The model registry with the champion and challenger, promote and rollback, the deployment
   history, the policy's decisions and A/B tests with per-arm results. */
(function () {
  "use strict";
  var T = window.Training, h = T.h;
  var root = document.getElementById("models-page");
  var sid = root.dataset.scenario;
  var base = "/api/scenarios/" + sid;
  var deployment = null;
  var models = [];
  var cursor = null;
  var experiments = {};
  var waiting = null;

  var ACTIONS = {
    promote: "models.action_promote", rollback: "models.action_rollback",
    ab_test_started: "models.action_ab_test_started", ab_test_ended: "models.action_ab_test_ended"
  };
  var DECISIONS = {
    promoted: "models.decision_promoted", ab_test_started: "models.decision_ab_test_started",
    kept_champion: "models.decision_kept_champion", left_as_candidate: "models.decision_left_as_candidate",
    rolled_back: "models.decision_rolled_back", probation_passed: "models.decision_probation_passed"
  };
  var VERDICTS = {
    pending_feedback: "models.verdict_pending_feedback", "continue": "models.verdict_continue",
    challenger: "models.verdict_challenger", champion: "models.verdict_champion"
  };
  var MODES = { single: "models.mode_single", ab_test: "models.mode_ab_test", shadow: "models.mode_shadow" };

  function known(table, value) { return table[value] ? MLoop.t(table[value]) : value; }

  function modelLink(id) {
    if (!id) return "—";
    return h("a", { href: "#model-" + id, class: "mono", text: T.shortId(id) });
  }

  function fact(label, value) { return [h("dt", { text: label }), h("dd", null, value)]; }

  function slot(element, summary, extra) {
    var body = element.querySelector(".slot-body");
    body.replaceChildren();
    if (!summary) {
      body.appendChild(h("p", { class: "muted", text: MLoop.t("models.none_deployed") }));
      return;
    }
    var dl = h("dl", { class: "facts" });
    [
      fact(MLoop.t("models.model"), modelLink(summary.model_id)),
      fact(MLoop.t("models.algorithm"), summary.algorithm || "—"),
      fact(summary.primary_metric || MLoop.t("models.primary_metric"), T.number(summary.primary_value)),
      fact(MLoop.t("models.since"), T.date(summary.since)),
      fact(MLoop.t("models.trained"), T.date(summary.created_at))
    ].concat(extra || []).forEach(function (pair) { pair.forEach(function (n) { dl.appendChild(n); }); });
    body.appendChild(dl);
  }

  async function loadDeployment() {
    deployment = await MLoop.api("GET", base + "/deployments?history_limit=50");
    document.getElementById("deployment-mode").textContent =
      MLoop.t("models.mode_line", { mode: known(MODES, deployment.mode), version: deployment.version });
    slot(document.getElementById("champion-slot"), deployment.champion);
    slot(document.getElementById("challenger-slot"), deployment.challenger, deployment.challenger
      ? [fact(MLoop.t("models.share"), Math.round(deployment.challenger_share * 100) + "%")] : []);
    var rollback = document.getElementById("rollback");
    if (rollback) {
      rollback.disabled = !deployment.rollback_target;
      document.getElementById("rollback-hint").textContent = deployment.rollback_target
        ? MLoop.t("models.rollback_to", { model: T.shortId(deployment.rollback_target) })
        : MLoop.t("models.rollback_none");
    }
    showHistory(deployment.history);
    root.dataset.version = String(deployment.version);
    root.dataset.champion = deployment.champion ? deployment.champion.model_id : "";
  }

  function showHistory(rows) {
    var element = document.getElementById("history");
    T.table(element, [
      { label: MLoop.t("models.version"), cell: function (e) { return String(e.version); } },
      { label: MLoop.t("models.alias"), cell: function (e) { return MLoop.t(e.alias === "champion" ? "models.champion" : "models.challenger"); } },
      { label: MLoop.t("models.action"), cell: function (e) { return known(ACTIONS, e.action); } },
      { label: MLoop.t("models.model"), cell: function (e) { return modelLink(e.model_id); } },
      { label: MLoop.t("models.previous"), cell: function (e) { return modelLink(e.previous_model_id); } },
      { label: MLoop.t("models.reason"), cell: function (e) { return e.reason; } },
      { label: MLoop.t("models.by"), cell: function (e) { return e.requested_by_name || (e.requested_by ? T.shortId(e.requested_by) : MLoop.t("models.system")); } },
      { label: MLoop.t("models.at"), cell: function (e) { return T.date(e.at); } }
    ], rows, element.dataset.empty);
  }

  function roles(model) {
    var out = [];
    if (deployment && deployment.champion && deployment.champion.model_id === model.id) out.push(T.badge("champion", MLoop.t("models.champion")));
    if (deployment && deployment.challenger && deployment.challenger.model_id === model.id) out.push(T.badge("challenger", MLoop.t("models.challenger")));
    return out;
  }

  function isChampion(model) {
    return !!(deployment && deployment.champion && deployment.champion.model_id === model.id);
  }

  async function loadModels(more) {
    var found = await MLoop.api("GET", base + "/models?limit=50" + (more && cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    models = more ? models.concat(found.items) : found.items;
    cursor = found.next_cursor;
    var wanted = Array.from(new Set(models.map(function (m) { return m.experiment_id; }).filter(function (id) { return id && !experiments[id]; })));
    if (wanted.length) {  // their names, in one call (a page holds at most 50 models)
      try {
        var named = await MLoop.api("GET", base + "/experiments/compare?ids=" + wanted.join(","));
        named.items.forEach(function (item) { experiments[item.experiment.id] = item.experiment.name; });
      } catch (error) { /* shown by their short ids below */ }
      wanted.forEach(function (id) { experiments[id] = experiments[id] || T.shortId(id); });
    }
    showModels();
    document.getElementById("more-models").hidden = !cursor;
  }

  function showModels() {
    var element = document.getElementById("model-list");
    T.table(element, [
      { label: MLoop.t("models.model"), cell: function (m) { return h("span", { id: "model-" + m.id, class: "mono", text: T.shortId(m.id) }); } },
      { label: MLoop.t("models.role"), cell: roles },
      { label: MLoop.t("models.algorithm"), cell: function (m) { return m.algorithm; } },
      { label: MLoop.t("models.primary_metric"), cell: function (m) { return m.primary_metric + " " + T.number(m.primary_value); } },
      { label: MLoop.t("models.experiment"), cell: function (m) {
        return m.experiment_id ? h("a", { href: T.scenarioPath(sid, "/experiments/" + m.experiment_id), text: experiments[m.experiment_id] }) : "—";
      } },
      { label: MLoop.t("models.run"), cell: function (m) { return h("a", { href: T.scenarioPath(sid, "/runs/" + m.run_id), class: "mono", text: T.shortId(m.run_id) }); } },
      { label: MLoop.t("models.trained"), cell: function (m) { return T.date(m.created_at); } },
      { label: "", cell: function (m) {
        if (!MLoop.canEdit || isChampion(m)) return "";
        return h("button", { type: "button", class: "small promote", "data-model": m.id, text: MLoop.t("models.promote"),
          onclick: function () { promote(m.id); } });
      } }
    ], models, element.dataset.empty);
    element.querySelectorAll("tbody tr").forEach(function (tr, i) {
      var m = models[i];
      if (isChampion(m)) tr.classList.add("is-champion");
      else if (deployment && deployment.challenger && deployment.challenger.model_id === m.id) tr.classList.add("is-challenger");
    });
    var select = document.getElementById("ab-challenger");
    if (select) {
      var current = select.value;
      select.replaceChildren();
      models.filter(function (m) { return !isChampion(m); }).forEach(function (m) {
        select.appendChild(h("option", { value: m.id, text: T.shortId(m.id) + " · " + m.algorithm + " · " + m.primary_metric + " " + T.number(m.primary_value) }));
      });
      if (current && models.some(function (m) { return m.id === current && !isChampion(m); })) select.value = current;
    }
  }

  /* --- A/B tests --- */

  function interval(ci) {
    if (!ci) return "—";
    return "[" + T.number(ci[0]) + ", " + T.number(ci[1]) + "]";
  }

  function testBlock(test) {
    var arms = Object.keys(test.arms || {}).map(function (name) { return Object.assign({ name: name }, test.arms[name]); });
    var armTable = h("div");
    T.table(armTable, [
      { label: MLoop.t("models.arm"), cell: function (a) { return MLoop.t(a.name === "champion" ? "models.champion" : "models.challenger"); } },
      { label: MLoop.t("models.model"), cell: function (a) { return modelLink(a.model_id); } },
      { label: MLoop.t("models.predictions"), cell: function (a) { return String(a.predictions); } },
      { label: MLoop.t("models.labelled"), cell: function (a) { return String(a.labelled); } },
      { label: test.results.compared || MLoop.t("models.compared"), cell: function (a) { return T.number(a.metric); } },
      { label: MLoop.t("models.interval"), cell: function (a) { return interval(a.confidence_interval); } },
      { label: test.primary_metric || MLoop.t("models.primary_metric"), cell: function (a) { return T.number(a.primary_value); } }
    ], arms);
    var r = test.results;
    var head = h("p", null,
      h("strong", { text: known(MODES, test.mode) }), " · ",
      T.badge(test.status, MLoop.t(test.status === "running" ? "models.test_running" : "models.test_ended")), " · ",
      MLoop.t("models.test_started", { at: T.date(test.started_at) }),
      test.ended_at ? " · " + MLoop.t("models.test_ended_at", { at: T.date(test.ended_at) }) : "",
      test.mode === "ab_test" ? " · " + MLoop.t("models.share") + " " + Math.round(test.challenger_share * 100) + "%" : "");
    var verdict = h("p", null, h("strong", { text: MLoop.t("models.verdict") + ": " + known(VERDICTS, r.status) }),
      " ", h("span", { class: "muted", text: r.detail }),
      r.p_value !== null && r.p_value !== undefined ? " (p = " + T.number(r.p_value) + ")" : "");
    var parts = [head, armTable, verdict];
    if (test.winner_model_id) parts.push(h("p", null, MLoop.t("models.winner") + " ", modelLink(test.winner_model_id)));
    if (MLoop.canEdit && test.status === "running") {
      parts.push(h("div", { class: "actions" },
        h("button", { type: "button", text: MLoop.t("models.end_keep"), onclick: function () { endTest(test.id, false); } }),
        h("button", { type: "button", text: MLoop.t("models.end_promote"), onclick: function () { endTest(test.id, true); } })));
    }
    return h("div", { class: "ab-test", id: "ab-test-" + test.id }, parts);
  }

  async function loadTests() {
    var element = document.getElementById("ab-tests");
    var found = await MLoop.api("GET", base + "/ab-tests?limit=5");
    var details = await Promise.all(found.items.map(function (t) { return MLoop.api("GET", base + "/ab-tests/" + t.id); }));
    element.replaceChildren();
    if (!details.length) {
      element.appendChild(h("p", { class: "muted", text: element.dataset.empty }));
      return;
    }
    details.forEach(function (test) { element.appendChild(testBlock(test)); });
  }

  async function loadDecisions() {
    var element = document.getElementById("decisions");
    var found = await MLoop.api("GET", base + "/deployments/decisions?limit=20");
    T.table(element, [
      { label: MLoop.t("models.at"), cell: function (d) { return T.date(d.at); } },
      { label: MLoop.t("models.decision"), cell: function (d) { return known(DECISIONS, d.decision); } },
      { label: MLoop.t("models.model"), cell: function (d) { return modelLink(d.model_id); } },
      { label: MLoop.t("models.policy"), cell: function (d) { return d.policy; } },
      { label: MLoop.t("models.reason"), cell: function (d) { return d.reason; } }
    ], found.items, element.dataset.empty);
  }

  /* --- changes: each answers 202; the scheduler applies it, so wait for a newer version --- */

  function notice(text, kind) { T.notify(document.getElementById("deploy-notice"), text, kind); }

  function waitForVersion(version, doneKey) {
    if (waiting) waiting();
    var deadline = Date.now() + 60000;
    waiting = MLoop.poll(async function () {
      try {
        var now = await MLoop.api("GET", base + "/deployments?history_limit=0");
        if (now.version > version) {
          waiting(); waiting = null;
          await refresh();
          notice(MLoop.t(doneKey), "ok");
        } else if (Date.now() > deadline) {
          waiting(); waiting = null;
          notice(MLoop.t("models.still_pending"), "warn");
        }
      } catch (error) {
        T.fail(error);
      }
    }, 1000);
  }

  async function promote(modelId) {
    try {
      var accepted = await MLoop.api("POST", base + "/models/" + modelId + "/promote", { reason: "manual" });
      notice(MLoop.t("models.promote_pending", { model: T.shortId(modelId) }), "info");
      waitForVersion(accepted.version, "models.promoted");
    } catch (error) {
      notice(T.problemText(error), "error");
    }
  }

  async function rollback() {
    if (!window.confirm(MLoop.t("models.rollback_confirm"))) return;
    try {
      var accepted = await MLoop.api("POST", base + "/models/rollback", { reason: "manual" });
      notice(MLoop.t("models.rollback_pending", { model: T.shortId(accepted.model_id) }), "info");
      waitForVersion(accepted.version, "models.rolled_back");
    } catch (error) {
      notice(T.problemText(error), "error");
    }
  }

  async function endTest(testId, promoteChallenger) {
    try {
      var accepted = await MLoop.api("POST", base + "/ab-tests/" + testId + "/end",
        { promote_challenger: promoteChallenger, reason: "manual" });
      notice(MLoop.t("models.end_pending"), "info");
      waitForVersion(accepted.version, "models.test_ended_done");
    } catch (error) {
      notice(T.problemText(error), "error");
    }
  }

  function setUpAbForm() {
    var form = document.getElementById("ab-form");
    if (!form) return;
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      MLoop.showErrors(form, null);
      var mode = form.elements.mode.value;
      var body = { challenger_model_id: form.elements.challenger_model_id.value || null, mode: mode };
      var share = form.elements.challenger_share.value, samples = form.elements.min_samples.value;
      if (mode === "ab_test" && share !== "") body.challenger_share = isFinite(Number(share)) ? Number(share) : share;
      if (samples !== "") body.min_samples = isFinite(Number(samples)) ? Number(samples) : samples;
      try {
        var accepted = await MLoop.api("POST", base + "/ab-tests", body);
        notice(MLoop.t("models.ab_pending"), "info");
        waitForVersion(accepted.version, "models.ab_started");
      } catch (error) {
        MLoop.showErrors(form, error);
      }
    });
  }

  async function refresh() {
    await loadDeployment();
    await Promise.all([loadModels(false), loadTests(), loadDecisions()]);
    root.dataset.ready = "true";
  }

  var rollbackButton = document.getElementById("rollback");
  if (rollbackButton) rollbackButton.addEventListener("click", rollback);
  document.getElementById("more-models").addEventListener("click", function () { loadModels(true).catch(T.fail); });
  setUpAbForm();
  refresh().catch(T.fail);
})();
