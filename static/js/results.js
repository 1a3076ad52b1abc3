/* Results page: draws the charts of one tier (chosen in the tier picker) and the totals, from
 * the JSON the server rendered (#chart-data). Nothing is recomputed here. */
(function () {
  "use strict";
  const MP = window.MP;
  const root = document.getElementById("results");
  if (!root) return;
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const currency = root.dataset.currency;
  const sym = MP.currencySymbol(currency);
  const picker = document.getElementById("tier-picker");

  // Bars of the histogram shorter than this (a few users in a bin beside a tall one, as in the
  // loss tail) are drawn this many pixels tall, so no bin with users looks empty.
  const MIN_BAR_PX = 3;

  function moneyAxis(title) {
    return { title: { text: title }, tickprefix: sym, zeroline: true, zerolinecolor: "#9aa3af", gridcolor: "#eef0f3" };
  }

  function drawHistogram(el, h) {
    const positive = h.x.map(function (x) { return x >= 0; });
    const colors = positive.map(function (p) { return p ? "#2f5bd3" : "#b42318"; });
    const losing = h.share.reduce(function (sum, share, i) { return positive[i] ? sum : sum + share; }, 0);
    const percent = h.share.map(function (s) { return s * 100; });
    const hover = MP.hover(h.share_text, "margin ≈ " + sym + "%{x:,.2f}<br>%{y:.3g}% of users<extra></extra>");
    // The count axis stays linear (the shares read as they are); a bar too short to see gets a
    // stub of MIN_BAR_PX in an overlaid trace. Trace 0 keeps the true shares; both hover them.
    const top = Math.max.apply(null, percent.concat([1e-9])) * 1.06;
    const plotHeight = Math.max(120, (el.clientHeight || 340) - 96);  // minus the top and bottom margins
    const floor = (MIN_BAR_PX / plotHeight) * top;
    const tiny = percent.map(function (v, i) { return v > 0 && v < floor ? i : -1; }).filter(function (i) { return i >= 0; });
    function pick(values) { return tiny.map(function (i) { return values[i]; }); }
    MP.plot(
      el,
      [
        Object.assign({ type: "bar", name: "Share of users", x: h.x, y: percent, width: h.width, marker: { color: colors } }, hover),
        Object.assign(
          { type: "bar", name: "Too few to see: drawn " + MIN_BAR_PX + " px tall", x: pick(h.x), y: tiny.map(function () { return floor; }),
            width: h.width, marker: { color: pick(colors) }, customdata: pick(percent) },
          Array.isArray(h.share_text) ? MP.hover(pick(h.share_text)) : { hovertemplate: "margin ≈ " + sym + "%{x:,.2f}<br>%{customdata:.3g}% of users<extra></extra>" }
        ),
      ],
      {
        xaxis: moneyAxis("Margin per user and month"),
        yaxis: { title: { text: "% of users" }, ticksuffix: "%", gridcolor: "#eef0f3", range: [0, top] },
        showlegend: false,
        barmode: "overlay",
        bargap: 0.02,
        shapes: [
          { type: "rect", x0: Math.min.apply(null, h.x.concat([0])) - h.width, x1: 0, yref: "paper", y0: 0, y1: 1, fillcolor: "rgba(180,35,24,.07)", line: { width: 0 }, layer: "below" },
          { type: "line", x0: 0, x1: 0, yref: "paper", y0: 0, y1: 1, line: { color: "#1d2330", width: 2, dash: "dot" } },
        ],
        annotations: [
          { x: 0, yref: "paper", y: 1, text: "zero margin", showarrow: false, xanchor: "left", yanchor: "top", font: { size: 12 } },
          { x: 0, xanchor: "right", yref: "paper", y: 0.55, showarrow: false, font: { size: 13, color: "#b42318" },
            text: (losing * 100).toFixed(1) + "% of users<br>lose money ←" },
        ],
      }
    );
  }

  function drawTier(tier) {
    drawHistogram(document.getElementById("chart-histogram"), tier.histogram);

    // Percentiles are evenly spaced on the axis (p50, p90, p95, p99, max): the tail is the story.
    const p = tier.percentiles;
    const pos = p.labels.map(function (_, i) { return i; });
    const curve = [
      { type: "scatter", mode: "lines", name: "95% simulation interval", x: pos.concat(pos.slice().reverse()),
        y: p.high.concat(p.low.slice().reverse()), fill: "toself", fillcolor: "rgba(47,91,211,.15)", line: { width: 0 }, hoverinfo: "skip" },
      Object.assign({ type: "scatter", mode: "lines+markers", name: "COGS per user", x: pos, y: p.cogs, text: p.labels,
        line: { color: "#2f5bd3", width: 3 }, marker: { size: 8 } }, MP.hover(p.cogs_text, "%{text}: " + sym + "%{y:,.2f}<extra></extra>", "%{text}: ")),
      { type: "scatter", mode: "lines", name: "Price " + (tier.price_text || MP.money(tier.price, currency)), x: [0, pos.length - 1], y: [tier.price, tier.price],
        line: { color: "#1a6b43", width: 2, dash: "dash" } },
    ];
    const shapes = [];
    const annotations = [];
    if (tier.break_even_position !== null && tier.break_even_position !== undefined) {
      const be = tier.break_even_position;
      shapes.push({ type: "line", x0: be, x1: be, yref: "paper", y0: 0, y1: 1, line: { color: "#b42318", width: 2 } });
      let label = "break-even ≈ p" + tier.break_even_percentile.toFixed(1);
      if (tier.break_even && tier.break_even.kind === "from") label += "<br>" + Math.round(tier.break_even.credits).toLocaleString("en-US") + " credits/month";
      // The label goes on the wider side of the line, so near p50 it never runs over the y axis.
      const right = be < (pos.length - 1) / 2;
      annotations.push({ x: be, yref: "paper", y: 0.98, text: label, showarrow: false, xanchor: right ? "left" : "right", xshift: right ? 4 : -4,
        yanchor: "top", align: right ? "left" : "right", font: { color: "#b42318", size: 12 }, bgcolor: "rgba(255,255,255,.85)" });
    }
    MP.plot(document.getElementById("chart-percentiles"), curve, {
      xaxis: { title: { text: "Users ranked by COGS" }, tickvals: pos, ticktext: p.labels, range: [-0.2, pos.length - 0.8], gridcolor: "#eef0f3" },
      yaxis: Object.assign(moneyAxis("COGS per user and month (log)"), { type: "log", dtick: 1 }),
      shapes: shapes,
      annotations: annotations,
    });

    const wl = Object.entries(tier.cogs_by_workload);
    const models = Object.entries(tier.cogs_by_model).sort(function (a, b) { return b[1] - a[1]; });
    function breakdownHover(entries, texts) {
      return MP.hover(texts && entries.map(function (e) { return texts[e[0]]; }), "%{y}: " + sym + "%{x:,.3f}<extra></extra>", "%{y}: ");
    }
    MP.plot(
      document.getElementById("chart-cogs"),
      [
        Object.assign({ type: "bar", name: "By workload", orientation: "h", y: wl.map(function (e) { return e[0]; }), x: wl.map(function (e) { return e[1]; }),
          marker: { color: "#2f5bd3" }, xaxis: "x", yaxis: "y" }, breakdownHover(wl, tier.cogs_by_workload_text)),
        Object.assign({ type: "bar", name: "By model", orientation: "h", y: models.map(function (e) { return e[0]; }), x: models.map(function (e) { return e[1]; }),
          marker: { color: "#0f766e" }, xaxis: "x2", yaxis: "y2" }, breakdownHover(models, tier.cogs_by_model_text)),
      ],
      {
        xaxis: Object.assign(moneyAxis("By workload"), { domain: [0, 0.34] }),
        xaxis2: Object.assign(moneyAxis("By model"), { domain: [0.7, 1], anchor: "y2" }),
        yaxis: { anchor: "x" },
        // Model keys break after the provider ("openai/<br>gpt-4o-mini"): the gap between the
        // two panels holds these labels.
        yaxis2: { anchor: "x2", tickvals: models.map(function (e) { return e[0]; }),
          ticktext: models.map(function (e) { return e[0].replace("/", "/<br>"); }) },
        showlegend: false,
        margin: { l: 100, r: 16, t: 16, b: 56 },
      }
    );

    const levers = tier.levers;
    const leverLabels = levers.map(function (l) { return l.label; });
    function leverTexts(key) {
      return levers.every(function (l) { return typeof l[key] === "string"; }) ? levers.map(function (l) { return l[key]; }) : null;
    }
    MP.plot(
      document.getElementById("chart-levers"),
      [
        Object.assign({ type: "bar", name: "Gross margin %", x: leverLabels, y: levers.map(function (l) { return l.gross_margin_pct; }),
          marker: { color: levers.map(function (_, i) { return i === 0 ? "#6b7280" : "#2f5bd3"; }) } },
          MP.hover(leverTexts("gross_margin_pct_text"), "%{x}: %{y:.1f}% gross margin<extra></extra>", "%{x}: gross margin ")),
        Object.assign({ type: "scatter", mode: "markers", name: "Underwater %", x: leverLabels,
          y: levers.map(function (l) { return l.underwater_share * 100; }), yaxis: "y2", marker: { color: "#b42318", size: 12, symbol: "diamond" } },
          MP.hover(leverTexts("underwater_share_text"), "%{x}: %{y:.2f}% underwater<extra></extra>", "%{x}: underwater ")),
      ],
      {
        yaxis: { title: { text: "Gross margin %" }, ticksuffix: "%", gridcolor: "#eef0f3" },
        // plotly.js v4 syncs an overlaying axis's ticks to the grid of the axis under it by default
        // (ticks like 2.03%, 4.05%); its own round steps instead, without a second grid.
        yaxis2: { title: { text: "Underwater users %" }, overlaying: "y", side: "right", ticksuffix: "%", rangemode: "tozero",
          tickmode: "auto", showgrid: false, zeroline: false },
        xaxis: MP.categoryAxis(document.getElementById("chart-levers"), leverLabels),
        margin: { l: 64, r: 64, t: 36, b: 56 },
      }
    );

    MP.plot(
      document.getElementById("chart-trajectory"),
      [
        Object.assign({ type: "scatter", mode: "lines+markers", name: "Revenue", x: tier.months, y: tier.revenue_by_month, line: { color: "#1f7a4d" } },
          monthHover("Revenue", tier.revenue_by_month_text)),
        Object.assign({ type: "scatter", mode: "lines+markers", name: "COGS", x: tier.months, y: tier.cogs_by_month, line: { color: "#c2410c" } },
          monthHover("COGS", tier.cogs_by_month_text)),
        Object.assign({ type: "bar", name: "Margin", x: tier.months, y: tier.margin_by_month,
          marker: { color: tier.margin_by_month.map(function (m) { return m < 0 ? "rgba(180,35,24,.6)" : "rgba(47,91,211,.45)"; }) } },
          monthHover("Margin", tier.margin_by_month_text)),
      ],
      { xaxis: { title: { text: "Month" }, dtick: 1, gridcolor: "#eef0f3" }, yaxis: moneyAxis("Per month") }
    );
  }

  function monthHover(name, texts) {
    return MP.hover(texts, name + ", month %{x}: " + sym + "%{y:,.0f}<extra></extra>", name + ", month %{x}: ");
  }

  function drawTotal() {
    const t = data.total;
    MP.plot(
      document.getElementById("chart-total"),
      [Object.assign({ type: "bar", name: "Total margin", x: t.months, y: t.margin_by_month,
         marker: { color: t.margin_by_month.map(function (m) { return m < 0 ? "#b42318" : "#2f5bd3"; }) } }, monthHover("Margin", t.margin_by_month_text))],
      { xaxis: { title: { text: "Month" }, dtick: 1 }, yaxis: moneyAxis("Margin, all tiers"), showlegend: false }
    );
  }

  function drawLifetime() {
    const l = data.total.lifetime;
    const el = document.getElementById("chart-cash");
    if (!l || !el) return;
    function costs(name, key, color) {
      return Object.assign({ type: "bar", name: name, x: l.months, y: l[key].map(function (v) { return -v; }), marker: { color: color }, customdata: l[key] },
        MP.hover(l[key + "_text"], name + ", month %{x}: " + sym + "%{customdata:,.0f}<extra></extra>", name + ", month %{x}: "));
    }
    MP.plot(
      el,
      [
        costs("Inference COGS", "inference_cogs", "rgba(47,91,211,.55)"),
        costs("Model costs", "model_costs", "rgba(180,35,24,.6)"),
        costs("Acquisition", "acquisition", "rgba(217,119,6,.55)"),
        costs("Fixed costs", "fixed_costs", "rgba(107,114,128,.5)"),
        { type: "scatter", mode: "lines", name: "95% simulation band", x: l.months.concat(l.months.slice().reverse()),
          y: l.cumulative_high.concat(l.cumulative_low.slice().reverse()), fill: "toself", fillcolor: "rgba(15,118,110,.15)",
          line: { width: 0 }, hoverinfo: "skip" },
        Object.assign({ type: "scatter", mode: "lines+markers", name: "Cumulative cash", x: l.months, y: l.cumulative_cash,
          line: { color: "#0f766e", width: 3 } }, MP.hover(l.cumulative_cash_text, "Month %{x}: " + sym + "%{y:,.0f}<extra></extra>", "Month %{x}: "))
      ],
      { barmode: "relative", xaxis: { title: { text: "Month" }, dtick: l.months.length > 24 ? 6 : 1 },
        yaxis: moneyAxis("Costs (down) · cash"), legend: { orientation: "h", y: 1.15 } }
    );
  }

  function selected() {
    return data.tiers[Number(picker.value)] || data.tiers[0];
  }
  picker.addEventListener("change", function () {
    drawTier(selected());
    document.querySelectorAll("[data-tier-name]").forEach(function (el) { el.textContent = selected().key; });
  });
  drawTier(selected());
  document.querySelectorAll("[data-tier-name]").forEach(function (el) { el.textContent = selected().key; });
  drawTotal();
  drawLifetime();
})();
