/* Margin Planner charts: plotly.js (served locally from the pinned plotly package).
 * Every chart keeps its traces on the element (Plotly's `el.data`) and in `data-series`
 * (JSON), so tests and users' scripts can read what is drawn. Each chart gets PNG and SVG
 * download buttons (keyboard reachable). */
(function () {
  "use strict";
  const MP = (window.MP = window.MP || {});
  const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 13, color: "#1d2330" };
  const COLORS = ["#2f5bd3", "#c2410c", "#0f766e", "#7c3aed", "#b45309", "#be185d", "#4d7c0f"];
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

  function baseLayout(extra) {
    return Object.assign(
      {
        font: FONT,
        margin: { l: 64, r: 16, t: 36, b: 52 },
        paper_bgcolor: "#ffffff",
        plot_bgcolor: "#ffffff",
        showlegend: true,
        legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
        hoverlabel: { font: FONT },
      },
      extra || {}
    );
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
