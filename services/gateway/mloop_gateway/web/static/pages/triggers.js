/* Triggers: what retrains the scenario by itself (schedule, drift, performance, new data), each
   with its latest firing; the firings of the selected trigger; a form to create one (editors).
   Viewers see the same lists without the change buttons. */
(function () {
  "use strict";
  var root = document.getElementById("triggers-page");
  var sid = root.dataset.scenario;
  var base = "/api/scenarios/" + sid + "/triggers";
  var el = MLoop.el;
  var triggers = [];
  var selected = null;
  var cursor = null;

  var KINDS = {
    schedule: MLoop.t("triggers.kind_schedule"),
    drift: MLoop.t("triggers.kind_drift"),
    performance: MLoop.t("triggers.kind_performance"),
    new_data: MLoop.t("triggers.kind_new_data")
  };
  var OUTCOMES = {
    started: MLoop.t("triggers.outcome_started"),
    cooldown: MLoop.t("triggers.outcome_cooldown"),
    capped: MLoop.t("triggers.outcome_capped"),
    duplicate: MLoop.t("triggers.outcome_duplicate"),
    failed: MLoop.t("triggers.outcome_failed"),
    skipped: MLoop.t("triggers.outcome_skipped")
  };
  var SYMBOLS = { lt: "<", le: "≤", gt: ">", ge: "≥" };

  function outcome(value) {
    var cls = value === "started" ? "status-succeeded" : value === "failed" ? "status-failed" : "status-pending";
    return el("span", { class: "status " + cls, text: OUTCOMES[value] || value });
  }

  function summary(trigger) {
    var c = trigger.config || {};
    if (trigger.kind === "schedule") return MLoop.t("triggers.summary_schedule", { cron: c.cron, timezone: c.timezone || "UTC" });
    if (trigger.kind === "drift") {
      var parts = [];
      if (c.features) parts.push(MLoop.t("triggers.summary_features", { features: c.features.join(", ") }));
      if (c.min_share !== undefined && c.min_share !== null) parts.push(MLoop.t("triggers.summary_share", { share: Math.round(c.min_share * 100) + "%" }));
      return parts.join("; ");
    }
    if (trigger.kind === "performance") {
      return MLoop.t("triggers.summary_performance", {
        metric: c.metric, cmp: SYMBOLS[c.comparison] || c.comparison, threshold: c.threshold, min: c.min_feedback
      });
    }
    return c.path ? MLoop.t("triggers.summary_path", { path: c.path }) : MLoop.t("triggers.summary_default_path");
  }

  function showList() {
    var target = document.getElementById("trigger-list");
    var columns = [
      { key: "name", label: MLoop.t("triggers.name") },
      { key: "kind", label: MLoop.t("triggers.kind"), format: function (v) { return KINDS[v] || v; } },
      { key: "config", label: MLoop.t("triggers.config"), format: function (v, row) { return el("span", { class: "config-cell", text: summary(row) }); } },
      { key: "cooldown_seconds", label: MLoop.t("triggers.cooldown"), format: function (v) { return MLoop.fmt.duration(v); } },
      { key: "enabled", label: MLoop.t("triggers.enabled"), format: function (v, row) {
        var shown = v ? MLoop.t("triggers.yes") : MLoop.t("triggers.no");
        if (!MLoop.canEdit) return shown;
        return el("span", {}, [shown + " ", el("button", {
          type: "button", class: "small", "data-toggle": row.id,
          text: v ? MLoop.t("triggers.switch_off") : MLoop.t("triggers.switch_on"),
          onclick: function (event) { event.stopPropagation(); toggle(row); }
        })]);
      } },
      { key: "last_fired_at", label: MLoop.t("triggers.last_fired"), format: function (v) { return v ? MLoop.fmt.date(v) : "—"; } },
      { key: "next_fire_at", label: MLoop.t("triggers.next_fire"), format: function (v) { return v ? MLoop.fmt.date(v) : "—"; } },
      { key: "last_firing", label: MLoop.t("triggers.last_outcome"), format: function (v) { return v ? outcome(v.outcome) : "—"; } }
    ];
    if (MLoop.canEdit) {
      columns.push({
        key: "id", label: "", format: function (id, row) {
          return el("button", {
            type: "button", class: "danger small", "data-delete": id, text: MLoop.t("triggers.delete"),
            onclick: function (event) { event.stopPropagation(); remove(row); }
          });
        }
      });
    }
    MLoop.table(target, columns, triggers, {
      empty: MLoop.t("triggers.none"),
      rowAttrs: function (row) {
        return {
          "data-trigger": row.id, class: selected && selected.id === row.id ? "selected" : null,
          onclick: function () { select(row); }
        };
      }
    });
  }

  async function loadList() {
    var page = await MLoop.api("GET", base);
    triggers = page.items || [];
    if (selected) selected = triggers.filter(function (t) { return t.id === selected.id; })[0] || null;
    if (!selected && triggers.length) selected = triggers[0];
    showList();
    await loadFirings(true);
  }

  function select(trigger) {
    selected = trigger;
    showList();
    loadFirings(true).catch(function (error) { MLoop.failed(document.getElementById("page-error"), error); });
  }

  var firings = [];

  function showFirings() {
    var target = document.getElementById("firings");
    document.getElementById("firings-title").textContent = selected
      ? MLoop.t("triggers.firings_of", { name: selected.name }) : MLoop.t("triggers.firings");
    if (!selected) {
      MLoop.clear(target).appendChild(el("p", { class: "empty", text: MLoop.t("triggers.pick_one") }));
      return;
    }
    MLoop.table(target, [
      { key: "at", label: MLoop.t("triggers.at"), format: function (v) { return MLoop.fmt.date(v); } },
      { key: "outcome", label: MLoop.t("triggers.outcome"), format: function (v) { return outcome(v); } },
      { key: "reason", label: MLoop.t("triggers.reason"), format: function (v, row) {
        var note = row.detail && row.detail.note ? " (" + row.detail.note + ")" : "";
        return el("span", { class: "config-cell", text: v + note });
      } },
      { key: "run_id", label: MLoop.t("triggers.started_run"), format: function (v, row) {
        if (v) return el("a", { href: "/scenarios/" + sid + "/runs/" + v, class: "mono", text: v.slice(0, 8) });
        if (row.workflow_run_id) return el("a", { href: "/scenarios/" + sid + "/workflows#run-" + row.workflow_run_id, class: "mono", text: MLoop.t("triggers.workflow_run", { id: row.workflow_run_id.slice(0, 8) }) });
        return "—";
      } }
    ], firings, { empty: MLoop.t("triggers.no_firings") });
  }

  async function loadFirings(fresh) {
    if (fresh) { firings = []; cursor = null; }
    if (!selected) { showFirings(); return; }
    var query = "?limit=20" + (cursor ? "&after=" + encodeURIComponent(cursor) : "");
    var page = await MLoop.api("GET", base + "/" + selected.id + "/firings" + query);
    firings = firings.concat(page.items || []);
    cursor = page.next_cursor;
    document.getElementById("more-firings").hidden = !cursor;
    showFirings();
  }

  async function toggle(trigger) {
    try {
      await MLoop.api("PUT", base + "/" + trigger.id, { enabled: !trigger.enabled });
      await loadList();
    } catch (error) {
      MLoop.failed(document.getElementById("page-error"), error);
    }
  }

  async function remove(trigger) {
    if (!window.confirm(MLoop.t("triggers.confirm_delete", { name: trigger.name }))) return;
    try {
      await MLoop.api("DELETE", base + "/" + trigger.id);
      if (selected && selected.id === trigger.id) selected = null;
      await loadList();
    } catch (error) {
      MLoop.failed(document.getElementById("page-error"), error);
    }
  }

  /* --- the form --------------------------------------------------------------------------- */

  var form = document.getElementById("trigger-form");

  function showKind() {
    var kind = form.elements.kind.value;
    form.querySelectorAll(".kind-fields").forEach(function (set) { set.hidden = set.dataset.kind !== kind; });
  }

  function value(name) { return form.elements[name].value.trim(); }

  function numberOr(text) {
    // A number the API can judge; text it cannot read is sent as is, for its message.
    if (text === "") return undefined;
    var n = Number(text);
    return isFinite(n) ? n : text;
  }

  function body() {
    var kind = form.elements.kind.value;
    var config = {};
    if (kind === "schedule") {
      config.cron = value("cron");
      if (value("timezone")) config.timezone = value("timezone");
    } else if (kind === "drift") {
      var features = value("features").split(",").map(function (s) { return s.trim(); }).filter(Boolean);
      if (features.length) config.features = features;
      var share = numberOr(value("min_share"));
      if (share !== undefined) config.min_share = share;
    } else if (kind === "performance") {
      config.metric = value("metric");
      config.comparison = form.elements.comparison.value;
      var threshold = numberOr(value("threshold"));
      if (threshold !== undefined) config.threshold = threshold;
      var min = numberOr(value("min_feedback"));
      if (min !== undefined) config.min_feedback = min;
    } else if (value("path")) {
      config.path = value("path");
    }
    var sent = { name: value("name"), kind: kind, config: config, enabled: form.elements.enabled.checked };
    var cooldown = numberOr(value("cooldown_seconds"));
    if (cooldown !== undefined) sent.cooldown_seconds = cooldown;
    return sent;
  }

  if (form) {
    form.elements.kind.addEventListener("change", showKind);
    showKind();
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var status = document.getElementById("create-status");
      MLoop.showErrors(form);
      status.textContent = MLoop.t("triggers.saving");
      try {
        var created = await MLoop.api("POST", base, body());
        status.textContent = MLoop.t("triggers.created", { name: created.name });
        form.reset();
        showKind();
        selected = created;
        await loadList();
      } catch (error) {
        status.textContent = "";
        MLoop.showErrors(form, error);
      }
    });
  }

  document.getElementById("more-firings").addEventListener("click", function () {
    loadFirings(false).catch(function (error) { MLoop.failed(document.getElementById("page-error"), error); });
  });

  loadList().then(function () {
    root.dataset.loaded = "true";
  }).catch(function (error) {
    MLoop.failed(document.getElementById("page-error"), error);
    root.dataset.loaded = "error";
  });
})();
