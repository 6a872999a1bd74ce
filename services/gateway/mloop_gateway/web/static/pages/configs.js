/* Model configs (forms built from the algorithm catalogue) and resource profiles. */
(function () {
  "use strict";
  var T = window.Training, h = T.h;
  var root = document.getElementById("configs-page");
  var sid = root.dataset.scenario;
  var algorithms = [];

  function paramText(parameters) {
    var names = Object.keys(parameters || {});
    if (!names.length) return "—";
    return names.map(function (n) { return n + "=" + JSON.stringify(parameters[n]); }).join(", ");
  }

  async function loadConfigs() {
    var element = document.getElementById("model-configs");
    var found = await MLoop.api("GET", "/api/scenarios/" + sid + "/model-configs");
    T.table(element, [
      { label: MLoop.t("configs.name"), cell: function (c) { return c.name; } },
      { label: MLoop.t("configs.version"), cell: function (c) { return String(c.version); } },
      { label: MLoop.t("configs.algorithm"), cell: function (c) { return c.algorithm; } },
      { label: MLoop.t("configs.parameters"), class: "params-cell", cell: function (c) { return paramText(c.parameters); } },
      { label: MLoop.t("configs.created"), cell: function (c) { return T.date(c.created_at); } }
    ], found.items, element.dataset.empty);
  }

  async function loadProfiles() {
    var element = document.getElementById("resource-profiles");
    var found = await MLoop.api("GET", "/api/resource-profiles");
    T.table(element, [
      { label: MLoop.t("configs.name"), cell: function (p) { return p.name; } },
      { label: MLoop.t("configs.version"), cell: function (p) { return String(p.version); } },
      { label: MLoop.t("configs.cpu_cores"), cell: function (p) { return String(p.cpu_cores); } },
      { label: MLoop.t("configs.memory_gb"), cell: function (p) { return T.number(p.memory_gb); } },
      { label: MLoop.t("configs.gpus"), cell: function (p) { return String(p.gpus); } },
      { label: MLoop.t("configs.gpu_memory_gb"), cell: function (p) { return T.number(p.gpu_memory_gb); } },
      { label: MLoop.t("configs.max_hours"), cell: function (p) { return T.number(p.max_hours); } },
      { label: MLoop.t("configs.created"), cell: function (p) { return T.date(p.created_at); } }
    ], found.items, element.dataset.empty);
  }

  /* --- the model config form, built from GET /api/algorithms --- */

  function range(param) {
    var low = param.minimum, high = param.maximum;
    if (low === null && high === null) return "";
    return (low === null ? "…" : T.number(low)) + " – " + (high === null ? "…" : T.number(high));
  }

  function defaultText(param) {
    if (param.default === null || param.default === undefined) return MLoop.t("configs.default_none");
    return MLoop.t("configs.default_value", { value: Array.isArray(param.default) ? param.default.join(", ") : String(param.default) });
  }

  function fieldFor(param) {
    var input;
    if (param.list && param.choices) {
      input = h("span", { class: "choice-list", "data-param": param.name, "data-kind": "choices" },
        param.choices.map(function (choice) {
          return h("label", { class: "inline" },
            h("input", { type: "checkbox", value: choice, name: param.name }), " " + choice);
        }));
    } else if (param.choices) {
      input = h("select", { name: param.name, "data-param": param.name, "data-kind": "choice" },
        h("option", { value: "", text: defaultText(param) }),
        param.choices.map(function (choice) { return h("option", { value: choice, text: choice }); }));
    } else if (param.type === "boolean") {
      input = h("select", { name: param.name, "data-param": param.name, "data-kind": "boolean" },
        h("option", { value: "", text: defaultText(param) }),
        h("option", { value: "true", text: MLoop.t("configs.yes") }),
        h("option", { value: "false", text: MLoop.t("configs.no") }));
    } else if (param.list) {
      input = h("input", { type: "text", name: param.name, "data-param": param.name, "data-kind": "list-" + param.type,
        placeholder: param.default ? param.default.join(", ") : "", autocomplete: "off" });
    } else if (param.type === "integer" || param.type === "number") {
      input = h("input", { name: param.name, "data-param": param.name, "data-kind": param.type,
        type: "number", step: param.type === "integer" ? "1" : "any",
        placeholder: param.default === null ? "" : String(param.default) });
    } else {
      input = h("input", { type: "text", name: param.name, "data-param": param.name, "data-kind": "string",
        placeholder: param.default === null ? "" : String(param.default), autocomplete: "off" });
    }
    var hints = [param.description, range(param) && MLoop.t("configs.range", { range: range(param) }),
      defaultText(param)].filter(Boolean).join(" · ");
    return h("div", { class: "param" },
      h("label", null, param.name, input),
      h("span", { class: "hint muted", text: hints }),
      h("div", { class: "field-error", "data-for": param.name }));
  }

  function showAlgorithm(name) {
    var entry = algorithms.find(function (a) { return a.name === name; });
    var fields = document.getElementById("parameter-fields");
    fields.replaceChildren();
    document.getElementById("algorithm-description").textContent = entry ? entry.description : "";
    if (entry) entry.parameters.forEach(function (p) { fields.appendChild(fieldFor(p)); });
  }

  function number(text) {
    var value = Number(text);
    if (text.trim() === "" || !isFinite(value)) return text; // the API names what is wrong
    return value;
  }

  /* The parameters the user filled in; empty fields keep the algorithm's defaults. */
  function parameters(form) {
    var out = {};
    form.querySelectorAll("[data-param]").forEach(function (input) {
      var name = input.dataset.param, kind = input.dataset.kind;
      if (kind === "choices") {
        var picked = Array.prototype.map.call(input.querySelectorAll("input:checked"), function (c) { return c.value; });
        if (picked.length) out[name] = picked;
        return;
      }
      var text = input.value;
      if (text === "") return;
      if (kind === "boolean") out[name] = text === "true";
      else if (kind === "integer" || kind === "number") out[name] = number(text, kind === "integer");
      else if (kind.indexOf("list-") === 0) {
        out[name] = text.split(",").map(function (s) { return s.trim(); }).filter(Boolean).map(function (s) {
          return kind === "list-string" ? s : number(s, kind === "list-integer");
        });
      } else out[name] = text;
    });
    return out;
  }

  async function setUpConfigForm() {
    var form = document.getElementById("model-config-form");
    if (!form) return;
    var scenario = await MLoop.api("GET", "/api/scenarios/" + sid);
    var catalogue = await MLoop.api("GET", "/api/algorithms");
    algorithms = catalogue.tasks[scenario.task_type] || [];
    var select = document.getElementById("algorithm-select");
    algorithms.forEach(function (a) { select.appendChild(h("option", { value: a.name, text: a.name })); });
    select.addEventListener("change", function () { showAlgorithm(select.value); });
    showAlgorithm(select.value);
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      MLoop.showErrors(form, null);
      var body = { name: form.elements.name.value, algorithm: select.value, parameters: parameters(form) };
      try {
        await MLoop.api("POST", "/api/scenarios/" + sid + "/model-configs", body);
        form.elements.name.value = "";
        showAlgorithm(select.value);
        await loadConfigs();
      } catch (error) {
        MLoop.showErrors(form, error);
      }
    });
  }

  function setUpProfileForm() {
    var form = document.getElementById("resource-profile-form");
    if (!form) return;
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      MLoop.showErrors(form, null);
      var body = { name: form.elements.name.value };
      ["cpu_cores", "memory_gb", "gpus", "gpu_memory_gb", "max_hours"].forEach(function (name) {
        var text = form.elements[name].value;
        if (text !== "") body[name] = number(text, name === "cpu_cores" || name === "gpus");
      });
      try {
        await MLoop.api("POST", "/api/resource-profiles", body);
        form.elements.name.value = "";
        await loadProfiles();
      } catch (error) {
        MLoop.showErrors(form, error);
      }
    });
  }

  loadConfigs().catch(T.fail);
  loadProfiles().catch(T.fail);
  setUpConfigForm().catch(T.fail);
  setUpProfileForm();
})();
