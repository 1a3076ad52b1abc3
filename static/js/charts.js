/* Margin Planner charts: plotly.js (served locally from the pinned plotly package).
 * Every chart keeps its traces on the element (Plotly's `el.data`) and in `data-series`
 * (JSON), so tests and users' scripts can read what is drawn. Each chart gets PNG and SVG
 * download buttons (keyboard reachable). */
(function () {
  "use strict";
  const MP = (window.MP = window.MP || {});
  const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 13, color: "#1d2330" };
  // The first five differ clearly in hue (compare overlays one scenario per colour).
  const COLORS = ["#2f5bd3", "#c2410c", "#0f766e", "#7c3aed", "#be185d", "#4d7c0f", "#b45309"];
  MP.colors = COLORS;

  MP.currencySymbol = function (code) {
    return { USD: "$", EUR: "€", GBP: "£", JPY: "¥", CAD: "CA$", AUD: "A$" }[code] || code + " ";
  };
  MP.money = function (value, code) {
    if (value === null || value === undefined || !isFinite(value)) return "—";
    const sign = value < 0 ? "−" : "";
    const v = Math.abs(value);
    const digits = v >= 10000 ? 0 : v >= 1 || v === 0 ? 2 : 4;
    return sign + MP.currencySymbol(code) + v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  };

  /* Hover text for a trace: the server's pre-formatted figures when the series has them (a
   * ``<name>_text`` list beside each ``<name>``: planner/simulation/chart_text.py), else plotly's
   * own format (`fallback`, a hovertemplate). `prefix` goes before the text (e.g. "%{x}: "),
   * `extra` beside the box (plotly's <extra>, e.g. the trace's name). */
  MP.hover = function (texts, fallback, prefix, extra) {
    if (!Array.isArray(texts)) return { hovertemplate: fallback };
    return { hovertext: texts, hovertemplate: (prefix || "") + "%{hovertext}<extra>" + (extra || "") + "</extra>" };
  };

  /* A long category label broken at word boundaries into lines of about `width` characters
   * (plotly draws `<br>` as a line break): tick labels stay readable instead of being rotated
   * off the chart. */
  MP.wrap = function (label, width) {
    const lines = [];
    String(label).split(" ").forEach(function (word) {
      const last = lines.length - 1;
      if (last >= 0 && (lines[last] + " " + word).length <= (width || 14)) lines[last] += " " + word;
      else lines.push(word);
    });
    return lines.join("<br>");
  };

  /* A category axis whose labels are wrapped to the width each category has on `el` (less a
   * gap; about 7.5 px a character at this font) and drawn level: plotly would rotate long labels
   * off the chart. The chart is remembered and its labels are wrapped again when the window is
   * resized (plotly's own `responsive` resize keeps the old line breaks). */
  function wrappedLabels(el, labels) {
    const plotWidth = Math.max(120, (el.clientWidth || 480) - 140);
    const width = Math.max(8, Math.floor((plotWidth / Math.max(1, labels.length) - 16) / 7.5));
    return labels.map(function (l) { return MP.wrap(l, width); });
  }
  const categoryCharts = new Map(); // element -> its category labels
  MP.categoryAxis = function (el, labels, axis) {
    categoryCharts.set(el, labels);
    return Object.assign({ tickvals: labels, ticktext: wrappedLabels(el, labels), tickangle: 0 }, axis || {});
  };
  let rewrapTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(rewrapTimer);
    rewrapTimer = setTimeout(function () {
      categoryCharts.forEach(function (labels, el) {
        if (!el.isConnected || !el.layout || !el.layout.xaxis) return;
        const ticktext = wrappedLabels(el, labels);
        if (JSON.stringify(ticktext) !== JSON.stringify(el.layout.xaxis.ticktext)) {
          window.Plotly.relayout(el, { "xaxis.ticktext": ticktext });
        }
      });
    }, 150);
  });

  /* Every axis grows the margin to fit its tick labels and title (`automargin`), so long
   * names are never cut off at the edge of the chart. */
  function baseLayout(extra) {
    const layout = Object.assign(
      {
        font: FONT,
        margin: { l: 64, r: 16, t: 36, b: 52 },
        paper_bgcolor: "#ffffff",
        plot_bgcolor: "#ffffff",
        showlegend: true,
        legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
        hoverlabel: { font: FONT },
        xaxis: {},
        yaxis: {},
      },
      extra || {}
    );
    Object.keys(layout).forEach(function (key) {
      if (/^[xy]axis\d*$/.test(key)) layout[key] = Object.assign({ automargin: true }, layout[key]);
    });
    return layout;
  }

  function addDownloads(el, name) {
    if (el.nextElementSibling && el.nextElementSibling.classList.contains("chart-tools")) return;
    const tools = document.createElement("div");
    tools.className = "chart-tools";
    ["png", "svg"].forEach(function (format) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary small";
      button.textContent = "Download " + format.toUpperCase();
      button.setAttribute("aria-label", "Download chart “" + (el.getAttribute("aria-label") || name) + "” as " + format.toUpperCase());
      button.dataset.download = format;
      button.addEventListener("click", function () {
        window.Plotly.downloadImage(el, { format: format, filename: name, width: 1000, height: 520 });
      });
      tools.appendChild(button);
    });
    el.insertAdjacentElement("afterend", tools);
  }

  /* Draw (or redraw) a chart. `options.small` draws a static sparkline without tools. */
  MP.plot = function (el, traces, layout, options) {
    options = options || {};
    const config = options.small
      ? { staticPlot: true, responsive: true }
      : {
          responsive: true,
          displaylogo: false,
          modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
          toImageButtonOptions: { format: "png", filename: el.id || "chart", width: 1000, height: 520 },
        };
    el.dataset.series = JSON.stringify(
      traces.map(function (t) {
        return { name: t.name || "", x: t.x || [], y: t.y || [] };
      })
    );
    el.setAttribute("role", "figure");
    const ready = window.Plotly.react(el, traces, options.small ? layout : baseLayout(layout), config);
    if (!options.small) addDownloads(el, el.id || "chart");
    return ready;
  };

  /* Dashboard sparklines: <div class="sparkline" data-values="[...]"> */
  MP.sparklines = function () {
    document.querySelectorAll(".sparkline[data-values]").forEach(function (el) {
      const values = JSON.parse(el.dataset.values);
      const x = values.map(function (_, i) { return i + 1; });
      const negative = values.some(function (v) { return v < 0; });
      MP.plot(
        el,
        [{ x: x, y: values, type: "scatter", mode: "lines+markers", line: { color: negative ? "#b42318" : "#1a6b43", width: 2 },
           marker: { size: values.map(function (_, i) { return i === values.length - 1 ? 6 : 0; }) } }],
        { margin: { l: 2, r: 4, t: 4, b: 4 }, xaxis: { visible: false }, yaxis: { visible: false }, showlegend: false, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)" },
        { small: true }
      );
    });
  };
})();
