/* Helpers shared by the training and serving pages (configs, experiments, runs, compare,
   models): DOM building, tables, status badges and number formats. */
(function () {
  "use strict";

  function h(tag, attrs) {
    var node = document.createElement(tag);
    var key;
    for (key in attrs || {}) {
      if (!Object.prototype.hasOwnProperty.call(attrs, key)) continue;
      var value = attrs[key];
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { append(node, c); });
    else node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }

  /* columns: [{label, cell(row) -> Node|string, class?}]; an empty list shows `empty`. */
  function table(element, columns, rows, empty) {
    element.replaceChildren();
    if (!rows.length) {
      element.appendChild(h("p", { class: "muted empty", text: empty || "—" }));
      return;
    }
    var head = h("tr", null, columns.map(function (c) {
      return h("th", { class: c.class || null, text: c.label });
    }));
    var body = rows.map(function (row) {
      return h("tr", null, columns.map(function (c) {
        return h("td", { class: c.class || null }, c.cell(row));
      }));
    });
    element.appendChild(h("div", { class: "table-wrap" },
      h("table", { class: "grid" }, h("thead", null, head), h("tbody", null, body))));
  }

  function shortId(id) { return id ? String(id).slice(0, 8) : "—"; }

  function number(value, digits) {
    if (value === null || value === undefined || !isFinite(value)) return "—";
    var abs = Math.abs(value);
    if (abs !== 0 && (abs < 0.001 || abs >= 1e6)) return Number(value).toExponential(3);
    return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 4 : digits });
  }

  function date(value) {
    if (!value) return "—";
    return MLoop.fmt && MLoop.fmt.date ? MLoop.fmt.date(value) : new Date(value).toLocaleString();
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
    if (MLoop.fmt && MLoop.fmt.duration) return MLoop.fmt.duration(seconds);
    return number(seconds, 1) + " s";
  }

  function badge(kind, text) {
    return h("span", { class: "status status-" + kind + " badge-" + kind, text: text });
  }

  var STATUS_KEYS = {
    planned: "runs.status_planned", queued: "runs.status_queued",
    running: "runs.status_running", completed: "runs.status_completed",
    failed: "runs.status_failed"
  };

  function status(value) {
    var key = STATUS_KEYS[value];
    return h("span", { class: "status status-" + value, text: key ? MLoop.t(key) : value });
  }

  function scenarioPath(sid, rest) { return "/scenarios/" + sid + rest; }

  /* An error as text: the API's problem detail, or the error's message. */
  function problemText(error) {
    if (error && error.problem) return error.problem.detail || error.problem.title || String(error.status);
    return error && error.message ? error.message : String(error);
  }

  function notify(element, text, kind) { MLoop.notice(element, kind || "info", text); }

  /* Shows an error that stopped a page part at the top of the page's content. */
  function fail(error) {
    var box = document.getElementById("page-error");
    if (!box) return;
    box.appendChild(h("div", { class: "notice error", role: "alert", text: problemText(error) }));
  }

  /* Every page of a listing that pages with `next_cursor` (up to `max` items). */
  async function all(path, max) {
    var items = [];
    var cursor = null;
    do {
      var sep = path.indexOf("?") >= 0 ? "&" : "?";
      var url = path + sep + "limit=200" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
      var found = await MLoop.api("GET", url);
      items = items.concat(found.items);
      cursor = found.next_cursor;
    } while (cursor && items.length < (max || 1000));
    return items;
  }

  function seconds(start, end) {
    if (!start || !end) return null;
    return (new Date(end).getTime() - new Date(start).getTime()) / 1000;
  }

  function metricsText(metrics, most) {
    var names = Object.keys(metrics || {}).sort();
    if (!names.length) return "—";
    var shown = names.slice(0, most || 2).map(function (n) { return n + " " + number(metrics[n]); });
    return shown.join(", ") + (names.length > shown.length ? ", …" : "");
  }

  function progressBar(fraction, state) {
    var percent = Math.round(Math.max(0, Math.min(1, fraction || 0)) * 100);
    return h("span", { class: "mini-progress", title: percent + "%" },
      h("span", { class: "progress", style: "min-width:80px;display:inline-block;width:80px;vertical-align:middle" },
        h("span", { class: "bar", style: "display:block;width:" + percent + "%" })),
      " ", h("span", { class: "progress-label", text: percent + "%" }));
  }

  /* Runs as a table with check boxes; `button` (optional) opens the comparison of the checked. */
  function runTable(element, sid, runs, options) {
    options = options || {};
    var checked = options.checked || new Set();
    var button = options.compareButton;
    function sync() {
      if (button) button.disabled = checked.size < 2;
    }
    var columns = [];
    if (button) {
      columns.push({ label: "", cell: function (r) {
        return h("input", { type: "checkbox", class: "pick-run", "aria-label": shortId(r.id), value: r.id,
          checked: checked.has(r.id), onchange: function (e) {
            if (e.target.checked) checked.add(r.id); else checked.delete(r.id);
            sync();
          } });
      } });
    }
    columns.push({ label: MLoop.t("runs.run"), cell: function (r) {
      return h("a", { href: scenarioPath(sid, "/runs/" + r.id), class: "mono", text: shortId(r.id) });
    } });
    if (options.experiments) {
      columns.push({ label: MLoop.t("runs.experiment"), cell: function (r) {
        if (!r.experiment_id) return MLoop.t("runs.no_experiment");
        var name = options.experiments[r.experiment_id] || shortId(r.experiment_id);
        return h("a", { href: scenarioPath(sid, "/experiments/" + r.experiment_id), text: name });
      } });
    }
    columns.push(
      { label: MLoop.t("runs.status"), cell: function (r) { return status(r.status); } },
      { label: MLoop.t("runs.progress"), cell: function (r) { return progressBar(r.progress, r.status); } },
      { label: MLoop.t("runs.algorithm"), cell: function (r) { return r.algorithm; } },
      { label: MLoop.t("runs.metrics"), cell: function (r) { return metricsText(r.metrics); } },
      { label: MLoop.t("runs.trigger"), cell: function (r) { return r.trigger; } },
      { label: MLoop.t("runs.created"), cell: function (r) { return date(r.created_at); } },
      { label: MLoop.t("runs.duration"), cell: function (r) { return duration(seconds(r.started_at, r.finished_at)); } }
    );
    table(element, columns, runs, element.dataset.empty);
    sync();
    return checked;
  }

  function compareLink(sid, ids) {
    return scenarioPath(sid, "/compare?runs=" + ids.map(encodeURIComponent).join(","));
  }

  var FINISHED = ["completed", "failed"];

  function finished(run) { return FINISHED.indexOf(run.status) >= 0; }

  window.Training = {
    h: h, table: table, shortId: shortId, number: number, date: date, duration: duration,
    badge: badge, status: status, scenarioPath: scenarioPath, problemText: problemText,
    notify: notify, all: all, fail: fail,
    seconds: seconds, metricsText: metricsText, progressBar: progressBar, runTable: runTable,
    compareLink: compareLink, finished: finished
  };
})();
