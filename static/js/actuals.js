/* Actuals pages: the month's margin histogram, COGS concentration and trend; a customer's
 * months. Data from the page's JSON (``actuals-data`` or ``customer-data``). */
(function () {
  "use strict";
  const MP = window.MP;

  function months(el, rows, currency) {
    const x = rows.map(function (r) { return r.period; });
    MP.plot(el, [
      { type: "bar", name: "Revenue", x: x, y: rows.map(function (r) { return r.revenue; }), marker: { color: MP.colors[0] } },
      { type: "bar", name: "COGS", x: x, y: rows.map(function (r) { return r.cogs; }), marker: { color: MP.colors[1] } },
      { type: "scatter", mode: "lines+markers", name: "Margin", x: x, y: rows.map(function (r) { return r.margin; }), line: { color: "#1d2330", width: 2 } },
    ], { barmode: "group", xaxis: { type: "category" }, yaxis: { tickprefix: MP.currencySymbol(currency), title: { text: "Per month" } } });
  }

  const page = document.getElementById("actuals-data");
  if (page) {
    const data = JSON.parse(page.textContent);
    const currency = document.getElementById("actuals-charts").dataset.currency;
    const h = data.histogram;
    if (h.counts.length) {
      const centers = h.counts.map(function (_, i) { return (h.edges[i] + h.edges[i + 1]) / 2; });
      MP.plot(document.getElementById("chart-margins"), [{
        type: "bar", name: "Customers", x: centers, y: h.counts, width: h.edges[1] - h.edges[0],
        marker: { color: h.loss.map(function (loss) { return loss ? "#b42318" : "#1a6b43"; }) },
      }], { showlegend: false, xaxis: { title: { text: "Margin per customer this month" }, tickprefix: MP.currencySymbol(currency) }, yaxis: { title: { text: "Customers" } },
            shapes: [{ type: "line", x0: 0, x1: 0, yref: "paper", y0: 0, y1: 1, line: { color: "#1d2330", dash: "dot", width: 2 } }] });
    }
    const c = data.concentration;
    if (c.curve.length) {
      MP.plot(document.getElementById("chart-concentration"), [
        { type: "scatter", mode: "lines", name: "Costliest customers first", x: c.curve.map(function (p) { return p.customers_pct; }), y: c.curve.map(function (p) { return p.cogs_share * 100; }), line: { color: MP.colors[1], width: 2 } },
        { type: "scatter", mode: "lines", name: "Equal shares", x: [0, 100], y: [0, 100], line: { color: "#9aa3b2", dash: "dot", width: 1 } },
      ], { xaxis: { title: { text: "Share of customers (%)" }, ticksuffix: "%" }, yaxis: { title: { text: "Share of COGS (%)" }, ticksuffix: "%", range: [0, 100] } });
    }
    // The trend bills up to 12 months of customers: fetched after the page has loaded.
    fetch(data.trend_url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (body) { if (body.trend.length) months(document.getElementById("chart-trend"), body.trend, currency); });
  }
  const one = document.getElementById("customer-data");
  if (one) months(document.getElementById("chart-customer"), JSON.parse(one.textContent), document.getElementById("customer-charts").dataset.currency);
})();
