/* Scenarios: list (paged), create, edit and delete, with the API's messages beside the fields. */
(function () {
  "use strict";
  var M = window.MLoop, t = M.t, el = M.el;
  var list = document.getElementById("scenario-list");
  var more = document.getElementById("more-scenarios");
  var notice = document.getElementById("scenarios-notice");
  var editor = document.getElementById("scenario-editor");
  var form = document.getElementById("scenario-form");
  var rows = [];
  var cursor = null;
  var editing = null;

  function tagsOf(text) {
    return text.split(",").map(function (part) { return part.trim(); }).filter(Boolean);
  }

  function openEditor(scenario) {
    editing = scenario;
    M.showErrors(form, null);
    form.reset();
    document.getElementById("editor-title").textContent = scenario
      ? t("scenarios.edit_title", { name: scenario.name }) : t("scenarios.new");
    form.querySelector(".edit-only").hidden = !scenario;
    form.elements.task_type.disabled = !!scenario;
    if (scenario) {
      form.elements.name.value = scenario.name;
      form.elements.task_type.value = scenario.task_type;
      form.elements.description.value = scenario.description || "";
      form.elements.tags.value = (scenario.tags || []).join(", ");
      form.elements.deployment_policy.value = scenario.deployment_policy;
      form.elements.default_data_path.value = scenario.default_data_path || "";
      form.elements.default_target.value = scenario.default_target || "";
      form.elements.primary_metric.value = scenario.primary_metric || "";
    }
    editor.hidden = false;
    form.elements.name.focus();
  }

  function body() {
    var fields = {
      name: form.elements.name.value,
      description: form.elements.description.value,
      tags: tagsOf(form.elements.tags.value),
      deployment_policy: form.elements.deployment_policy.value
    };
    if (!editing) {
      fields.task_type = form.elements.task_type.value;
      return fields;
    }
    ["default_data_path", "default_target", "primary_metric"].forEach(function (name) {
      var value = form.elements[name].value.trim();
      var before = editing[name] || "";
      if (value !== before) fields[name] = value || null;
    });
    return fields;
  }

  async function save(event) {
    event.preventDefault();
    var button = document.getElementById("save-scenario");
    button.disabled = true;
    try {
      var saved = editing
        ? await M.api("PUT", "/api/scenarios/" + editing.id, body())
        : await M.api("POST", "/api/scenarios", body());
      editor.hidden = true;
      M.notice(notice, "ok", t(editing ? "scenarios.updated" : "scenarios.created", { name: saved.name }));
      await reload();
    } catch (err) {
      M.showErrors(form, err);
    } finally {
      button.disabled = false;
    }
  }

  async function remove(scenario) {
    if (!window.confirm(t("common.confirm_delete", { name: scenario.name }))) return;
    try {
      await M.api("DELETE", "/api/scenarios/" + scenario.id);
      M.notice(notice, "ok", t("scenarios.deleted", { name: scenario.name }));
      await reload();
    } catch (err) {
      if (err.status === 409 && window.confirm(t("scenarios.force_delete"))) {
        await M.api("DELETE", "/api/scenarios/" + scenario.id + "?force=true");
        await reload();
        return;
      }
      M.failed(notice, err);
    }
  }

  function render() {
    var columns = [
      { key: "name", label: t("common.name"), format: function (value, row) {
        return el("a", { href: "/scenarios/" + row.id, text: value, "data-scenario": row.name });
      } },
      { key: "task_type", label: t("scenarios.task_type"), format: function (value) {
        return t("scenarios.task_" + value);
      } },
      { key: "deployment_policy", label: t("scenarios.policy"), format: function (value) {
        return t("scenarios.policy_" + value);
      } },
      { key: "tags", label: t("scenarios.tags"), format: function (value) { return (value || []).join(", "); } },
      { key: "created_at", label: t("common.created"), format: M.fmt.date }
    ];
    if (M.canEdit) {
      columns.push({ key: "id", label: t("common.actions"), format: function (value, row) {
        return el("span", {}, [
          el("button", { type: "button", class: "small", text: t("common.edit"), "data-edit": row.name,
            onclick: function () { openEditor(row); } }),
          " ",
          el("button", { type: "button", class: "small danger", text: t("common.delete"), "data-delete": row.name,
            onclick: function () { remove(row); } })
        ]);
      } });
    }
    M.table(list, columns, rows, { empty: t("scenarios.empty") });
    more.hidden = !cursor;
  }

  async function fetchPage() {
    var query = "/api/scenarios?limit=50" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
    var page = await M.api("GET", query);
    rows = rows.concat(page.items);
    cursor = page.next_cursor;
    render();
  }

  async function reload() {
    rows = [];
    cursor = null;
    try {
      await fetchPage();
    } catch (err) {
      M.failed(notice, err);
    }
  }

  if (form) {
    form.addEventListener("submit", save);
    document.getElementById("new-scenario").addEventListener("click", function () { openEditor(null); });
    document.getElementById("cancel-scenario").addEventListener("click", function () { editor.hidden = true; });
  }
  more.addEventListener("click", function () { fetchPage().catch(function (err) { M.failed(notice, err); }); });
  reload();
})();
