/* Feature sets: pick the target and the features among a dataset version's columns. */
(function () {
  "use strict";
  var M = window.MLoop, t = M.t, el = M.el;
  var sid = M.scenarioId;
  var base = "/api/scenarios/" + sid;
  var notice = document.getElementById("features-notice");
  var form = document.getElementById("feature-form");
  var datasets = {};

  async function loadDatasets() {
    var files = await M.api("GET", base + "/data");
    var pages = await Promise.all(files.items.map(function (file) {
      var encoded = file.path.split("/").map(encodeURIComponent).join("/");
      return M.api("GET", base + "/data/" + encoded + "/versions");
    }));
    var found = [];
    pages.forEach(function (page) { found = found.concat(page.items); });
    found.forEach(function (dataset) { datasets[dataset.id] = dataset; });
    return found;
  }

  function label(dataset) {
    return dataset ? dataset.path + " v" + dataset.version : "";
  }

  function featureBoxes() {
    return Array.prototype.slice.call(document.querySelectorAll("#fs-features input[type=checkbox]"));
  }

  function syncTarget() {
    var target = form.elements.target.value;
    featureBoxes().forEach(function (box) {
      var isTarget = box.value === target;
      if (isTarget) box.checked = false;
      box.disabled = isTarget;
    });
  }

  async function pickDataset() {
    var id = form.elements.dataset_id.value;
    var targetSelect = M.clear(form.elements.target);
    var boxes = M.clear(document.getElementById("fs-features"));
    if (!id) return;
    var found = await M.api("GET", base + "/datasets/" + id + "/columns");
    var suggested = null;
    var scenario = await M.api("GET", base).catch(function () { return null; });
    if (scenario && scenario.default_target) suggested = scenario.default_target;
    targetSelect.appendChild(el("option", { value: "", text: t("features.no_target") }));
    found.columns.forEach(function (column) {
      targetSelect.appendChild(el("option", { value: column.name, text: column.name + " (" + t("data.type_" + column.type) + ")",
        selected: column.name === suggested }));
      boxes.appendChild(el("label", {}, [
        el("input", { type: "checkbox", name: "features", value: column.name, checked: true }),
        el("span", { text: column.name }),
        el("span", { class: "muted small", text: t("data.type_" + column.type) })
      ]));
    });
    syncTarget();
  }

  async function save(event) {
    event.preventDefault();
    var button = document.getElementById("fs-save");
    button.disabled = true;
    try {
      var body = {
        name: form.elements.name.value,
        dataset_id: form.elements.dataset_id.value || null,
        target: form.elements.target.value || null,
        features: featureBoxes().filter(function (box) { return box.checked; }).map(function (box) { return box.value; })
      };
      var created = await M.api("POST", base + "/feature-sets", body);
      M.showErrors(form, null);
      M.notice(notice, "ok", t("features.created", { name: created.name, version: created.version }));
      form.elements.name.value = "";
      await loadList();
    } catch (err) {
      M.showErrors(form, err);
    } finally {
      button.disabled = false;
    }
  }

  async function loadList() {
    var page = await M.api("GET", base + "/feature-sets?limit=200");
    M.table(document.getElementById("feature-list"), [
      { key: "name", label: t("common.name") },
      { key: "version", label: t("data.version"), numeric: true },
      { key: "dataset_id", label: t("features.dataset"), format: function (value) { return label(datasets[value]) || String(value).slice(0, 8); } },
      { key: "target", label: t("features.target"), format: function (value) { return value || "—"; } },
      { key: "features", label: t("features.features"), format: function (value) {
        var shown = value.slice(0, 6).join(", ");
        return value.length > 6 ? shown + " " + t("features.and_more", { n: value.length - 6 }) : shown;
      } },
      { key: "created_at", label: t("common.created"), format: M.fmt.date }
    ], page.items, { empty: t("features.empty") });
  }

  async function start() {
    var found = await loadDatasets();
    if (form) {
      var select = form.elements.dataset_id;
      if (!found.length) select.appendChild(el("option", { value: "", text: t("features.no_data") }));
      found.forEach(function (dataset) {
        select.appendChild(el("option", { value: dataset.id, text: label(dataset) }));
      });
      select.addEventListener("change", function () { pickDataset().catch(function (err) { M.failed(notice, err); }); });
      form.elements.target.addEventListener("change", syncTarget);
      form.addEventListener("submit", save);
      document.getElementById("fs-all").addEventListener("click", function () {
        featureBoxes().forEach(function (box) { if (!box.disabled) box.checked = true; });
      });
      document.getElementById("fs-none").addEventListener("click", function () {
        featureBoxes().forEach(function (box) { box.checked = false; });
      });
      await pickDataset();
    }
    await loadList();
  }

  start().catch(function (err) { M.failed(notice, err); });
})();
