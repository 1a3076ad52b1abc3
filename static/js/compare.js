/* Comparison page: overlay each scenario's series on shared axes. */
(function () {
  "use strict";
  const MP = window.MP;
  const series = JSON.parse(document.getElementById("compare-data").textContent);
  const root = document.getElementById("compare-charts");
  const sym = MP.currencySymbol(root.dataset.currency);
  const picker = document.getElementById("compare-tier");
  const names = [];
  series.forEach(function (s) { s.charts.tiers.forEach(function (t) { if (names.indexOf(t.key) < 0) names.push(t.key); }); });
  names.forEach(function (name) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    picker.appendChild(option);
  });
  const firstPaying = series[0].charts.tiers.find(function (t) { return t.paying; });
  if (firstPaying) picker.value = firstPaying.key;

  MP.plot(document.getElementById("chart-compare-trajectory"), series.map(function (s, i) {
    return { type: "scatter", mode: "lines+markers", name: s.name, x: s.charts.total.months, y: s.charts.total.margin_by_month, line: { color: MP.colors[i % MP.colors.length] } };
  }), { xaxis: { title: { text: "Month" }, dtick: 1 }, yaxis: { title: { text: "Margin" }, tickprefix: sym } });

  // Tier names are categories, wrapped to fit (the hover has them whole).
  const tierKeys = [];
  const underwater = series.map(function (s, i) {
    const paying = s.charts.tiers.filter(function (t) { return t.paying; });
    paying.forEach(function (t) { if (tierKeys.indexOf(t.key) < 0) tierKeys.push(t.key); });
    const texts = paying.map(function (t) { return t.levers[0].underwater_share_text; });
    return Object.assign({ type: "bar", name: s.name, x: paying.map(function (t) { return t.key; }), y: paying.map(function (t) { return t.levers[0].underwater_share * 100; }),
      marker: { color: MP.colors[i % MP.colors.length] } },
      MP.hover(texts.every(function (t) { return typeof t === "string"; }) ? texts : null, "%{x}: %{y:.2f}% underwater<extra>" + s.name + "</extra>", "%{x}: underwater ", s.name));
  });
  MP.plot(document.getElementById("chart-compare-underwater"), underwater, { barmode: "group",
    xaxis: MP.categoryAxis(document.getElementById("chart-compare-underwater"), tierKeys),
    yaxis: { title: { text: "% underwater" }, ticksuffix: "%" } });

  function drawTier() {
    const key = picker.value;
    const traces = [];
    const hist = [];
    series.forEach(function (s, i) {
      const t = s.charts.tiers.find(function (x) { return x.key === key; });
      if (!t) return;
      const color = MP.colors[i % MP.colors.length];
      const pos = t.percentiles.labels.map(function (_, j) { return j; });
      traces.push(Object.assign({ type: "scatter", mode: "lines+markers", name: s.name, x: pos, y: t.percentiles.cogs, text: t.percentiles.labels, line: { color: color } },
        MP.hover(t.percentiles.cogs_text, "%{text}: " + sym + "%{y:,.2f}<extra>" + s.name + "</extra>", "%{text}: ", s.name)));
      traces.push({ type: "scatter", mode: "lines", name: s.name + " price", x: [0, pos.length - 1], y: [t.price, t.price], line: { color: color, dash: "dash", width: 1 }, showlegend: false });
      hist.push({ type: "scatter", mode: "lines", line: { shape: "hvh", color: color }, name: s.name, x: t.histogram.x, y: t.histogram.share.map(function (v) { return v * 100; }) });
    });
    MP.plot(document.getElementById("chart-compare-percentiles"), traces, { xaxis: { title: { text: "Users ranked by COGS" }, tickvals: [0, 1, 2, 3, 4], ticktext: ["p50", "p90", "p95", "p99", "max"] },
      yaxis: { type: "log", dtick: 1, tickprefix: sym, title: { text: "COGS per user (log); dashed: price" } } });
    MP.plot(document.getElementById("chart-compare-histogram"), hist, {
      xaxis: { title: { text: "Margin per user and month" }, tickprefix: sym }, yaxis: { title: { text: "% of users" }, ticksuffix: "%" },
      shapes: [{ type: "line", x0: 0, x1: 0, yref: "paper", y0: 0, y1: 1, line: { color: "#1d2330", dash: "dot", width: 2 } }],
    });
  }
  picker.addEventListener("change", drawTier);
  drawTier();
})();
