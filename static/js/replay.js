/* A replay's page: actual and replayed margin per tier (data from ``replay-data``). */
(function () {
  "use strict";
  const MP = window.MP;
  const data = JSON.parse(document.getElementById("replay-data").textContent);
  const chart = document.getElementById("chart-replay-tiers");
  const currency = chart.dataset.currency;
  MP.plot(chart, [
    { type: "bar", name: "Actual margin", x: data.tiers, y: data.actual, marker: { color: MP.colors[0] } },
    { type: "bar", name: "Replayed margin", x: data.tiers, y: data.replayed, marker: { color: MP.colors[2] } },
  ], { barmode: "group", xaxis: { type: "category", automargin: true }, yaxis: { tickprefix: MP.currencySymbol(currency), title: { text: "Margin over the months" }, zeroline: true } });
})();
