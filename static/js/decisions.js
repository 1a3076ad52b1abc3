/* Decision pages: the frontier of a two-setting grid and the sensitivity tornado, drawn from
 * the page's JSON (``decision-data``, from planner.simulation.decision_views). */
(function () {
  "use strict";
  const MP = window.MP;
  const source = document.getElementById("decision-data");
  if (!source) return;
  const data = JSON.parse(source.textContent);
  if (!data) return;
  const currency = (document.getElementById("answer") || document.body).dataset.currency || "USD";

  function frontier(el) {
    const feasible = data.points.filter(function (p) { return p.feasible; });
    const other = data.points.filter(function (p) { return !p.feasible; });
    const front = data.points.filter(function (p) { return p.frontier; })
      .sort(function (a, b) { return a.underwater - b.underwater; });
    function trace(points, name, extra) {
      return Object.assign({
        name: name, type: "scatter", mode: "markers",
        x: points.map(function (p) { return p.underwater * 100; }),
        y: points.map(function (p) { return p.margin_per_user; }),
        text: points.map(function (p) { return p.label; }),
        hovertemplate: "%{text}<br>underwater %{x:.2f}%<br>margin/user " + MP.currencySymbol(currency) + "%{y:,.2f}<extra></extra>",
      }, extra);
    }
    MP.plot(el, [
      trace(other, "Misses a target", { marker: { color: "#b8bfcc", size: 7, symbol: "circle-open" } }),
      trace(feasible, "Meets every target", { marker: { color: MP.colors[0], size: 8 } }),
      trace(front, "Frontier", { mode: "lines+markers", line: { color: MP.colors[1], width: 2 }, marker: { color: MP.colors[1], size: 10 } }),
    ], {
      xaxis: { title: { text: "Underwater users (%)" }, ticksuffix: "%", rangemode: "tozero" },
      yaxis: { title: { text: "Margin per user" }, tickprefix: MP.currencySymbol(currency) },
    });
  }

  function tornado(el, tier, metric) {
    // Bars of the chosen figure, largest swing on top; within noise: grey.
    const bars = tier.bars.map(function (b) {
      return Object.assign({ label: b.label, low_label: b.low_label, high_label: b.high_label }, b.metrics[metric]);
    }).sort(function (a, b) { return a.swing - b.swing; });
    const labels = bars.map(function (b) { return b.label; });
    const unit = data.metrics[metric].unit;
    const scale = unit === "share" ? 100 : 1;  // shares are drawn in percentage points
    function end(side, color) {
      return {
        name: side === "low" ? "Low end" : "High end",
        showlegend: false,
        type: "bar", orientation: "h", y: labels,
        x: bars.map(function (b) { return b[side].delta * scale; }),
        base: 0,
        text: bars.map(function (b) { return b[side + "_label"]; }),
        textposition: "none",
        hovertemplate: "%{text}: change %{x:.3g}<extra></extra>",
        marker: { color: bars.map(function (b) { return b.within_noise ? "#c9ced8" : color; }) },
        error_x: {
          type: "data", symmetric: false, color: "#444",
          array: bars.map(function (b) { return (b[side].delta_interval[1] - b[side].delta) * scale; }),
          arrayminus: bars.map(function (b) { return (b[side].delta - b[side].delta_interval[0]) * scale; }),
        },
      };
    }
    function key(name, color) {  // legend entries in the ends' colours (the bars may start grey)
      return { name: name, type: "bar", orientation: "h", x: [null], y: [null], marker: { color: color }, hoverinfo: "skip" };
    }
    const axis = { percent: "percentage points", share: "percentage points", money: MP.currencySymbol(currency) }[unit] || unit;
    const height = Math.max(320, 44 * bars.length + 120);
    el.style.height = height + "px";  // a style set from script: the CSP refuses style attributes
    MP.plot(el, [end("low", MP.colors[0]), end("high", MP.colors[1]), key("Low end", MP.colors[0]), key("High end", MP.colors[1])], {
      barmode: "overlay",
      margin: { l: 220, r: 16, t: 36, b: 52 },
      xaxis: { title: { text: data.metrics[metric].label + ": change against the plan (" + axis + ")" }, zeroline: true },
      yaxis: { automargin: true },
      height: height,
    });
  }

  function sweep(el, tier) {
    const labels = tier.points.map(function (p) { return p.label; });
    const upper = tier.points.map(function (p) { return p.interval[1]; });
    const lower = tier.points.map(function (p) { return p.interval[0]; });
    MP.plot(el, [
      { name: "95% band", x: labels, y: upper, type: "scatter", mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
      { name: "95% band", x: labels, y: lower, type: "scatter", mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: "rgba(47,91,211,0.18)" },
      { name: data.label, x: labels, y: tier.points.map(function (p) { return p.value; }), type: "scatter", mode: "lines+markers", line: { color: MP.colors[0], width: 2 } },
      { name: "The plan", x: [labels[0], labels[labels.length - 1]], y: [tier.baseline.value, tier.baseline.value], type: "scatter", mode: "lines", line: { color: "#1d2330", dash: "dot", width: 1 } },
    ], {
      xaxis: { type: "category", title: { text: data.label + ", moved by" } },
      yaxis: { title: { text: data.metric }, ticksuffix: data.percent ? "%" : "" },
    });
  }

  const sweepEl = document.getElementById("chart-sweep");
  if (sweepEl && data.sweep) {
    const sweepPicker = document.getElementById("tier-picker");
    sweep(sweepEl, data.tiers[0]);
    if (sweepPicker) sweepPicker.addEventListener("change", function () { sweep(sweepEl, data.tiers[Number(sweepPicker.value)]); });
  }
  const tornadoEl = document.getElementById("chart-tornado");
  if (tornadoEl && data.tiers && !data.sweep) {
    const picker = document.getElementById("tier-picker");
    const metricPicker = document.getElementById("metric-picker");
    const draw = function () { tornado(tornadoEl, data.tiers[Number(picker.value)], metricPicker.value); };
    draw();
    picker.addEventListener("change", draw);
    metricPicker.addEventListener("change", draw);
  }
})();
