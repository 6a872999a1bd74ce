/* MLoop dashboard: the helpers every page script uses (global `MLoop`). No build step. */
(function () {
  "use strict";

  var body = document.body;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var catalogNode = document.getElementById("mloop-messages");
  var messages = catalogNode ? JSON.parse(catalogNode.textContent || "{}") : {};
  var lang = body.getAttribute("data-lang") || "en";

  function t(key, vars) {
    var text = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
    if (!vars) return text;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole;
    });
  }

  function ApiError(status, problem) {
    this.name = "ApiError";
    this.status = status;
    this.problem = problem || {};
    this.message = (problem && (problem.detail || problem.title)) || "HTTP " + status;
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.constructor = ApiError;

  function signInAgain() {
    var here = window.location.pathname + window.location.search;
    window.location.assign("/login?next=" + encodeURIComponent(here));
  }

  async function readProblem(response) {
    var text = await response.text();
    try {
      return JSON.parse(text);
    } catch (e) {
      return { title: response.statusText, status: response.status, detail: text.slice(0, 300) };
    }
  }

  async function api(method, path, payload) {
    var headers = { Accept: "application/json", "X-CSRF-Token": csrf };
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (payload !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    var response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, { title: t("common.network_error"), detail: t("common.network_error") });
    }
    if (response.status === 401) {
      signInAgain();
      throw new ApiError(401, await readProblem(response));
    }
    if (!response.ok) throw new ApiError(response.status, await readProblem(response));
    if (response.status === 204) return null;
    var type = response.headers.get("content-type") || "";
    return type.indexOf("json") >= 0 ? response.json() : response.text();
  }

  function upload(path, file, onProgress, fields) {
    return new Promise(function (resolve, reject) {
      var form = new FormData();
      Object.keys(fields || {}).forEach(function (name) {
        if (fields[name] !== undefined && fields[name] !== null && fields[name] !== "") {
          form.append(name, fields[name]);
        }
      });
      form.append("file", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", path);
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
      });
      xhr.addEventListener("load", function () {
        var parsed = null;
        try {
          parsed = JSON.parse(xhr.responseText);
        } catch (e) {
          parsed = { title: xhr.statusText, detail: xhr.responseText.slice(0, 300) };
        }
        if (xhr.status === 401) signInAgain();
        if (xhr.status >= 200 && xhr.status < 300) {
          if (onProgress) onProgress(1);
          resolve(parsed);
        } else {
          reject(new ApiError(xhr.status, parsed));
        }
      });
      xhr.addEventListener("error", function () {
        reject(new ApiError(0, { title: t("common.network_error"), detail: t("common.network_error") }));
      });
      xhr.send(form);
    });
  }

  /* --- DOM helpers --- */

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === undefined || value === null || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else if (name.slice(0, 2) === "on" && typeof value === "function") {
        node.addEventListener(name.slice(2), value);
      } else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function table(element, columns, rows, options) {
    options = options || {};
    clear(element);
    if (!rows || rows.length === 0) {
      element.appendChild(el("p", { class: "empty", text: options.empty || t("common.none") }));
      return null;
    }
    var head = el("tr", {}, columns.map(function (column) {
      return el("th", { text: column.label, class: column.numeric ? "num" : null });
    }));
    var bodyRows = rows.map(function (row, index) {
      var tr = el("tr", options.rowAttrs ? options.rowAttrs(row, index) : {}, columns.map(function (column) {
        var value = typeof column.key === "function" ? column.key(row) : row[column.key];
        var shown = column.format ? column.format(value, row) : value;
        var cell = el("td", { class: column.numeric ? "num" : null });
        if (shown instanceof Node) cell.appendChild(shown);
        else cell.textContent = shown === null || shown === undefined ? "" : String(shown);
        return cell;
      }));
      return tr;
    });
    var node = el("table", { class: "grid" }, [el("thead", {}, [head]), el("tbody", {}, bodyRows)]);
    element.appendChild(el("div", { class: "table-wrap" }, [node]));
    return node;
  }

  function showErrors(form, error) {
    form.querySelectorAll(".field-error").forEach(function (node) { node.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (node) { node.removeAttribute("aria-invalid"); });
    var summary = form.querySelector(".form-error");
    if (summary) summary.textContent = "";
    if (!error) return;
    var problem = error.problem || {};
    var unplaced = [];
    (problem.errors || []).forEach(function (item) {
      var loc = item.loc || [];
      var name = String(loc.length ? loc[loc.length - 1] : "");
      if (/^\d+$/.test(name) && loc.length > 1) name = String(loc[loc.length - 2]);
      var slot = form.querySelector('.field-error[data-for="' + CSS.escape(name) + '"]');
      if (slot) {
        slot.textContent = slot.textContent ? slot.textContent + " " + item.msg : item.msg;
        var input = form.querySelector('[name="' + CSS.escape(name) + '"]');
        if (input) input.setAttribute("aria-invalid", "true");
      } else {
        unplaced.push((loc.slice(1).join(".") || name) + ": " + item.msg);
      }
    });
    if (summary) {
      var text = problem.detail || problem.title || error.message || t("common.error");
      summary.textContent = unplaced.length ? text + " " + unplaced.join("; ") : text;
    }
  }

  function notice(element, kind, text) {
    clear(element);
    if (text) element.appendChild(el("div", { class: "notice " + kind, role: kind === "error" ? "alert" : "status", text: text }));
  }

  function failed(element, error) {
    var problem = (error && error.problem) || {};
    notice(element, "error", problem.detail || problem.title || (error && error.message) || t("common.error"));
  }

  /* --- charts, polling, formats --- */

  var palette = ["#2457c5", "#e07b39", "#2f9e6e", "#c2415d", "#7a5cc7", "#8c8c8c", "#c9a227", "#1b9aaa"];

  function chart(element, traces, layout) {
    if (!window.Plotly) throw new Error("plotly.min.js is not loaded on this page");
    var look = {
      margin: { l: 48, r: 16, t: 24, b: 40 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: "system-ui, -apple-system, 'Segoe UI', 'Noto Sans KR', sans-serif", size: 12, color: "#273142" },
      colorway: palette,
      xaxis: { gridcolor: "#e6e9ef", zeroline: false },
      yaxis: { gridcolor: "#e6e9ef", zeroline: false },
      legend: { orientation: "h", y: -0.2 },
      height: 280
    };
    Object.keys(layout || {}).forEach(function (key) {
      var value = layout[key];
      look[key] = value && typeof value === "object" && !Array.isArray(value) && look[key]
        ? Object.assign({}, look[key], value) : value;
    });
    return window.Plotly.newPlot(element, traces, look, { displaylogo: false, responsive: true });
  }

  function poll(fn, ms) {
    var stopped = false;
    var timer = null;
    async function tick() {
      if (stopped) return;
      try {
        var more = await fn();
        if (more === false) stopped = true;
      } catch (err) {
        if (window.console) console.warn(err);
      }
      if (!stopped) timer = window.setTimeout(tick, ms);
    }
    tick();
    return function stop() {
      stopped = true;
      if (timer) window.clearTimeout(timer);
    };
  }

  var locale = lang === "ko" ? "ko-KR" : "en-GB";
  var fmt = {
    date: function (value) {
      if (!value) return "";
      var date = value instanceof Date ? value : new Date(value);
      if (isNaN(date.getTime())) return String(value);
      return date.toLocaleString(locale, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
    },
    number: function (value, digits) {
      if (value === null || value === undefined || value === "") return "";
      var number = Number(value);
      if (!isFinite(number)) return String(value);
      var options = typeof digits !== "number"  /* a table passes (value, row) */
        ? { maximumFractionDigits: Math.abs(number) >= 100 ? 0 : 4 }
        : { minimumFractionDigits: digits, maximumFractionDigits: digits };
      return number.toLocaleString(locale, options);
    },
    duration: function (seconds) {
      if (seconds === null || seconds === undefined) return "";
      var s = Math.max(0, Math.round(Number(seconds)));
      var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), rest = s % 60;
      if (h) return t("common.duration_hm", { h: h, m: m });
      if (m) return t("common.duration_ms", { m: m, s: rest });
      return t("common.duration_s", { s: rest });
    },
    bytes: function (value) {
      var n = Number(value || 0), units = ["B", "KB", "MB", "GB"], i = 0;
      while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
      return n.toLocaleString(locale, { maximumFractionDigits: i ? 1 : 0 }) + " " + units[i];
    }
  };

  function status(value) {
    return el("span", { class: "status status-" + String(value || "").toLowerCase(), text: t("common.status_" + value) === "common.status_" + value ? String(value) : t("common.status_" + value) });
  }

  /* --- the frame: scenario picker --- */

  function picker() {
    var select = document.getElementById("scenario-picker");
    if (!select) return;
    var current = select.getAttribute("data-current");
    Promise.all([
      api("GET", "/api/scenarios/" + current).catch(function () { return null; }),
      api("GET", "/api/scenarios?limit=200").catch(function () { return { items: [] }; })
    ]).then(function (found) {
      var mine = found[0];
      var items = found[1].items || [];
      clear(select);
      if (mine && !items.some(function (item) { return item.id === mine.id; })) items.unshift(mine);
      if (!mine) select.appendChild(el("option", { value: current, text: t("common.not_found") }));
      items.forEach(function (item) {
        select.appendChild(el("option", { value: item.id, text: item.name, selected: item.id === current }));
      });
      var name = document.querySelector("[data-scenario-name]");
      if (mine && name) name.textContent = mine.name;
    });
    select.addEventListener("change", function () {
      var rest = window.location.pathname.replace(/^\/scenarios\/[^/]+/, "");
      var section = rest.split("/")[1] || "";
      var keep = ["data", "feature-sets", "configs", "experiments", "models", "monitoring", "triggers", "workflows"];
      window.location.assign("/scenarios/" + select.value + (keep.indexOf(section) >= 0 ? "/" + section : ""));
    });
  }

  window.MLoop = {
    api: api,
    ApiError: ApiError,
    t: t,
    lang: lang,
    csrf: csrf,
    canEdit: body.getAttribute("data-can-edit") === "true",
    canAdmin: body.getAttribute("data-can-admin") === "true",
    scenarioId: body.getAttribute("data-scenario-id"),
    chart: chart,
    table: table,
    showErrors: showErrors,
    notice: notice,
    failed: failed,
    upload: upload,
    poll: poll,
    fmt: fmt,
    status: status,
    el: el,
    clear: clear,
    palette: palette
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", picker);
  else picker();
})();
