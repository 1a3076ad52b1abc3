/* Run page: poll the progress JSON about every 500 ms while the run is queued or running;
 * reload into the results when it succeeded. */
(function () {
  "use strict";
  const box = document.getElementById("run-progress");
  if (!box) return;
  const bar = document.getElementById("progress-bar");
  const fill = bar.querySelector(".fill");
  // The bar's width is set here, not in a style attribute: the CSP refuses inline styles.
  fill.style.width = Math.round(Number(bar.dataset.fraction) * 100) + "%";
  if (box.dataset.finished === "true") return;
  const label = document.getElementById("progress-label");
  const url = box.dataset.url;
  function seconds(s) {
    if (s === null || s === undefined) return "estimating…";
    return s < 60 ? Math.round(s) + " s left" : Math.round(s / 60) + " min left";
  }
  // The badge in the heading follows each poll: "running" as soon as the bar moves, never
  // "queued" beside 60% (the server sends ``badge``; older payloads fall back to the fraction).
  const badge = document.querySelector("[data-status-badge]");
  function badgeText(p) {
    if (p.badge) return p.badge;
    const active = p.status === "queued" || p.status === "running";
    return active && (p.blocks_done > 0 || (p.fraction > 0 && p.fraction < 1)) ? "running" : p.status;
  }
  function tick() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        const pct = Math.round(p.fraction * 100);
        bar.setAttribute("aria-valuenow", String(pct));
        bar.dataset.fraction = String(p.fraction);
        fill.style.width = pct + "%";
        const status = badgeText(p);
        if (badge) {
          badge.textContent = status;
          badge.className = "status status-" + status;
        }
        label.textContent = pct + "% · " + p.users_simulated.toLocaleString("en-US") + " of " + p.users_total.toLocaleString("en-US") +
          " users · " + status + (p.finished ? "" : " · " + seconds(p.remaining_seconds));
        if (p.finished) {
          box.dataset.finished = "true";
          box.dataset.status = p.status;
          setTimeout(function () { window.location.assign(p.results_url); }, 400);
        } else {
          setTimeout(tick, 500);
        }
      })
      .catch(function () { setTimeout(tick, 1500); });
  }
  tick();
})();
