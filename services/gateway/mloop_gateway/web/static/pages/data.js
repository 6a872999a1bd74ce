/* Data: upload with a progress bar, files and versions, a preview table and the profile. */
(function () {
  "use strict";
  var M = window.MLoop, t = M.t, el = M.el;
  var sid = M.scenarioId;
  var base = "/api/scenarios/" + sid;
  var notice = document.getElementById("data-notice");
  var MAX_CHARTS = 60;
  var selected = { path: null, version: null };
  var stopProfile = null;

  function dataUrl(path, suffix, version) {
    var encoded = path.split("/").map(encodeURIComponent).join("/");
    return base + "/data/" + encoded + (suffix || "") + (version ? "?version=" + version : "");
  }

  /* --- files and versions --- */

  async function loadFiles() {
    var files = await M.api("GET", base + "/data");
    M.table(document.getElementById("data-files"), [
      { key: "path", label: t("data.path"), format: function (value) {
        return el("a", { href: "#" + encodeURIComponent(value), text: value, "data-path": value,
          onclick: function (event) { event.preventDefault(); selectPath(value); } });
      } },
      { key: "versions", label: t("data.versions"), numeric: true },
      { key: function (row) { return row.latest.rows; }, label: t("data.rows"), numeric: true, format: M.fmt.number },
      { key: function (row) { return row.latest.size; }, label: t("data.size"), numeric: true, format: M.fmt.bytes },
      { key: function (row) { return row.latest.created_at; }, label: t("common.updated"), format: M.fmt.date }
    ], files.items, { empty: t("data.empty") });
    return files.items;
  }

  async function selectPath(path, version) {
    selected.path = path;
    history.replaceState(null, "", "#" + encodeURIComponent(path));
    document.getElementById("versions-card").hidden = false;
    document.getElementById("versions-path").textContent = path;
    var page = await M.api("GET", dataUrl(path, "/versions"));
    M.table(document.getElementById("data-versions"), [
      { key: "version", label: t("data.version"), numeric: true, format: function (value) {
        return el("a", { href: "#", text: "v" + value, "data-version": value,
          onclick: function (event) { event.preventDefault(); showDataset(path, value); } });
      } },
      { key: "rows", label: t("data.rows"), numeric: true, format: M.fmt.number },
      { key: "columns", label: t("data.columns"), numeric: true, format: function (value) { return value.length; } },
      { key: "sha256", label: t("data.sha256"), format: function (value) { return el("span", { class: "mono", text: value.slice(0, 12) }); } },
      { key: "profile_status", label: t("data.profile"), format: function (value) { return M.status(value); } },
      { key: "created_at", label: t("common.created"), format: M.fmt.date }
    ], page.items, { rowAttrs: function (row) { return { "data-row-version": row.version }; } });
    var latest = page.items.length ? page.items[0].version : null;
    await showDataset(path, version || latest);
  }

  /* --- preview and profile --- */

  function showTab(name) {
    document.querySelectorAll("[data-tab]").forEach(function (button) {
      button.classList.toggle("on", button.getAttribute("data-tab") === name);
    });
    document.querySelectorAll("[data-panel]").forEach(function (panel) {
      panel.hidden = panel.getAttribute("data-panel") !== name;
    });
    if (name === "profile") window.dispatchEvent(new Event("resize"));
  }

  async function showDataset(path, version) {
    if (!version) return;
    selected.version = version;
    document.querySelectorAll("[data-row-version]").forEach(function (row) {
      row.classList.toggle("selected", Number(row.getAttribute("data-row-version")) === Number(version));
    });
    document.getElementById("dataset-card").hidden = false;
    var preview = await M.api("GET", dataUrl(path, "/preview", version) + "&rows=50");
    var columns = preview.columns.map(function (name, index) { return { key: index, label: name }; });
    M.table(document.getElementById("dataset-preview"), columns, preview.rows);
    if (stopProfile) stopProfile();
    var box = M.clear(document.getElementById("dataset-profile"));
    box.appendChild(el("p", { class: "muted", text: t("data.profile_pending") }));
    var tries = 0;
    stopProfile = M.poll(async function () {
      tries += 1;
      var found = await M.api("GET", dataUrl(path, "/profile", version));
      if (found.status === "pending" && tries < 120) return true;
      var pill = document.querySelector('[data-row-version="' + version + '"] .status');
      if (pill) pill.replaceWith(M.status(found.status));
      if (found.status === "failed") M.notice(box, "error", t("data.profile_failed", { error: found.error || "" }));
      else if (found.status === "ready") showProfile(box, found.profile);
      return false;
    }, 1000);
  }

  function stat(value) {
    if (value === null || value === undefined) return "";
    return typeof value === "number" ? M.fmt.number(value) : String(value);
  }

  function histogramTrace(column) {
    var hist = column.histogram;
    if (hist && hist.edges && hist.edges.length > 1) {
      var numeric = typeof hist.edges[0] === "number";
      var x = hist.counts.map(function (c, i) {
        return numeric ? (hist.edges[i] + hist.edges[i + 1]) / 2 : hist.edges[i];
      });
      var widths = numeric ? hist.counts.map(function (c, i) { return hist.edges[i + 1] - hist.edges[i]; }) : undefined;
      return { type: "bar", x: x, y: hist.counts, width: widths, marker: { color: M.palette[0] }, hovertemplate: "%{x}: %{y}<extra></extra>" };
    }
    if (column.top && column.top.length) {
      var top = column.top.slice(0, 20);
      return { type: "bar", x: top.map(function (v) { return String(v.value); }), y: top.map(function (v) { return v.count; }),
        marker: { color: M.palette[1] }, hovertemplate: "%{x}: %{y}<extra></extra>" };
    }
    return null;
  }

  function showProfile(box, profile) {
    M.clear(box);
    var columns = profile.columns || [];
    box.appendChild(el("p", { class: "muted", text: t("data.profile_summary", { rows: M.fmt.number(profile.rows), columns: columns.length }) }));
    var stats = el("div");
    box.appendChild(stats);
    M.table(stats, [
      { key: "name", label: t("data.column") },
      { key: "type", label: t("data.type"), format: function (value) { return t("data.type_" + value); } },
      { key: "missing_share", label: t("data.missing"), numeric: true, format: function (value) { return M.fmt.number((value || 0) * 100, 1) + "%"; } },
      { key: "distinct", label: t("data.distinct"), numeric: true, format: function (value, row) { return (row.distinct_approximate ? "≈" : "") + M.fmt.number(value); } },
      { key: "min", label: t("data.min"), numeric: true, format: stat },
      { key: "max", label: t("data.max"), numeric: true, format: stat },
      { key: "mean", label: t("data.mean"), numeric: true, format: stat },
      { key: "std", label: t("data.std"), numeric: true, format: stat }
    ], columns);
    box.appendChild(el("h3", { text: t("data.histograms") }));
    if (columns.length > MAX_CHARTS) box.appendChild(el("p", { class: "muted", text: t("data.charts_limited", { n: MAX_CHARTS }) }));
    var grid = el("div", { class: "charts" });
    box.appendChild(grid);
    columns.slice(0, MAX_CHARTS).forEach(function (column) {
      var trace = histogramTrace(column);
      if (!trace) return;
      var plot = el("div", { class: "chart", "data-histogram": column.name });
      grid.appendChild(el("div", { class: "card" }, [el("h3", { text: column.name }), plot]));
      M.chart(plot, [trace], { height: 220, bargap: 0.05, margin: { l: 40, r: 8, t: 8, b: 48 }, showlegend: false });
    });
  }

  /* --- upload --- */

  function setProgress(fraction) {
    var bar = document.getElementById("upload-progress");
    bar.hidden = false;
    bar.querySelector(".bar").style.width = Math.round(fraction * 100) + "%";
    document.getElementById("upload-progress-label").textContent =
      fraction >= 1 ? t("data.processing") : t("data.uploading", { percent: Math.round(fraction * 100) });
  }

  async function upload(event) {
    event.preventDefault();
    var form = event.target;
    M.showErrors(form, null);
    var file = form.elements.file.files[0];
    if (!file) {
      M.showErrors(form, { problem: { detail: t("data.pick_file"), errors: [{ loc: ["body", "file"], msg: t("data.pick_file") }] } });
      return;
    }
    var button = document.getElementById("upload-button");
    button.disabled = true;
    setProgress(0);
    try {
      var created = await M.upload(base + "/data", file, setProgress, {
        path: form.elements.path.value.trim(), target: form.elements.target.value.trim()
      });
      document.getElementById("upload-progress-label").textContent =
        t("data.uploaded", { path: created.path, version: created.version, rows: M.fmt.number(created.rows) });
      form.reset();
      await loadFiles();
      await selectPath(created.path, created.version);
    } catch (err) {
      document.getElementById("upload-progress").hidden = true;
      document.getElementById("upload-progress-label").textContent = "";
      M.showErrors(form, err);
    } finally {
      button.disabled = false;
    }
  }

  var uploadForm = document.getElementById("upload-form");
  if (uploadForm) uploadForm.addEventListener("submit", upload);
  document.querySelectorAll("[data-tab]").forEach(function (button) {
    button.addEventListener("click", function () { showTab(button.getAttribute("data-tab")); });
  });

  loadFiles().then(function (files) {
    var wanted = decodeURIComponent(window.location.hash.slice(1));
    var first = files.some(function (f) { return f.path === wanted; }) ? wanted : (files[0] && files[0].path);
    if (first) return selectPath(first);
    return null;
  }).catch(function (err) { M.failed(notice, err); });
})();
