/* Scenario editor helpers: catalog suggestions for model fields, the live $/request estimate
 * of a workload and the usage distribution preview. All numbers come from the server. */
(function () {
  "use strict";
  const MP = window.MP;
  function debounce(fn, ms) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }
  function value(form, name) {
    const el = form.elements.namedItem(name);
    return el && "value" in el ? el.value : "";
  }

  // Preset buttons fill a field (the user still saves the form).
  document.querySelectorAll("[data-set-field]").forEach(function (button) {
    button.addEventListener("click", function () {
      const field = document.getElementById(button.dataset.setField);
      field.value = button.dataset.value;
      field.focus();
    });
  });

  // Catalog suggestions: one shared <datalist id="catalog-models">.
  const list = document.getElementById("catalog-models");
  if (list && list.dataset.url) {
    const refresh = debounce(function () {
      const active = document.activeElement;
      if (!active || active.getAttribute("list") !== "catalog-models") return;
      fetch(list.dataset.url + "?q=" + encodeURIComponent(active.value), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (body) {
          list.querySelectorAll("option:not([data-static])").forEach(function (o) { o.remove(); });
          body.models.forEach(function (m) {
            const option = document.createElement("option");
            option.value = m.key;
            if (m.input_mtok !== null) option.label = m.name + " · $" + m.input_mtok + " in / $" + m.output_mtok + " out per Mtok";
            list.appendChild(option);
          });
        });
    }, 200);
    document.addEventListener("input", function (event) {
      if (event.target.getAttribute && event.target.getAttribute("list") === "catalog-models") refresh();
    });
  }

  // Live $/request estimate on the workload form.
  const workload = document.getElementById("workload-form");
  if (workload) {
    const out = document.getElementById("estimate");
    const currency = workload.dataset.currency;
    const update = debounce(function () {
      const params = new URLSearchParams();
      params.set("price_date", workload.dataset.priceDate);
      ["input_tokens_median", "output_tokens_median", "reasoning_tokens_median", "calls_per_request_median",
       "prompt_cache_share", "prompt_cache_write_share", "response_cache_hit_rate", "distillation"].forEach(function (n) {
        params.set(n, value(workload, n));
      });
      workload.querySelectorAll(".mix-row").forEach(function (row) {
        const model = row.querySelector("[data-mix=model]").value.trim();
        if (!model) return;
        params.append("model", model);
        params.append("share", row.querySelector("[data-mix=share]").value);
        params.append("variant", row.querySelector("[data-mix=variant]").value);
        params.append("reasoning", row.querySelector("[data-mix=reasoning]").checked ? "1" : "0");
      });
      if (!params.getAll("model").length) {
        out.textContent = "Pick a model to see the cost of a typical request.";
        return;
      }
      fetch(workload.dataset.estimateUrl + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (body) {
          if (body.errors) {
            out.textContent = body.errors.join(" ");
            return;
          }
          const parts = body.models.map(function (m) {
            return m.key + ": " + (m.cost_per_request === null ? m.error : MP.money(m.cost_per_request, currency));
          });
          out.dataset.cost = body.cost_per_request === null ? "" : String(body.cost_per_request);
          out.innerHTML = "";
          const strong = document.createElement("strong");
          strong.textContent = body.cost_per_request === null ? "—" : MP.money(body.cost_per_request, currency) + " per request";
          out.appendChild(strong);
          out.appendChild(document.createTextNode(" at the token medians (" + parts.join("; ") + "). The simulated mean is higher: token counts are skewed."));
        });
    }, 250);
    workload.addEventListener("input", update);
    workload.addEventListener("change", update);
    update();
  }

  // Usage distribution preview.
  const usage = document.getElementById("usage-form");
  if (usage) {
    const figures = document.getElementById("preview-figures");
    const chart = document.getElementById("chart-usage-preview");
    const kindField = usage.elements.namedItem("kind");
    const showKind = function () {
      usage.querySelectorAll("[data-kinds]").forEach(function (el) {
        el.hidden = el.dataset.kinds.split(" ").indexOf(kindField.value) < 0;
      });
    };
    const update = debounce(function () {
      const params = new URLSearchParams();
      ["kind", "median", "p90", "mean", "shape", "scale", "alpha", "upper", "overdispersion"].forEach(function (n) {
        params.set(n, value(usage, n));
      });
      params.set("values", value(usage, "values_text"));
      fetch(usage.dataset.previewUrl + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (body) {
          if (body.errors) {
            const why = document.createElement("p");
            why.className = "preview-why";  // spans the figures' grid (a bare text node took one column)
            why.textContent = Object.values(body.errors).flat().join(" ");
            figures.replaceChildren(why);
            return;
          }
          figures.innerHTML = "";
          [["p50", body.p50], ["p90", body.p90], ["p99", body.p99], ["mean", body.mean]].forEach(function (pair) {
            const item = document.createElement("div");
            item.className = "figure";
            item.innerHTML = "<span class='label'></span><span class='value'></span>";
            item.querySelector(".label").textContent = pair[0];
            item.querySelector(".value").textContent = pair[1].toLocaleString("en-US", { maximumFractionDigits: 1 });
            figures.appendChild(item);
          });
          MP.plot(chart, [{ type: "scatter", mode: "lines", name: "Share of users", x: body.density.x, y: body.density.y.map(function (y) { return y * 100; }),
            line: { color: "#2f5bd3", shape: "spline", width: 2 }, fill: "tozeroy", fillcolor: "rgba(47,91,211,.18)", hovertemplate: "≈ %{x:,.1f} requests/month: %{y:.1f}%<extra></extra>" }],
            { xaxis: { title: { text: "Expected requests per user and month (log scale)" }, type: "log" },
              yaxis: { title: { text: "% of users" }, ticksuffix: "%" }, showlegend: false, margin: { l: 56, r: 12, t: 28, b: 48 },
              shapes: ["p50", "p90", "p99"].map(function (k) { return { type: "line", x0: body[k], x1: body[k], yref: "paper", y0: 0, y1: 1, line: { color: "#b42318", dash: "dot", width: 1 } }; }),
              annotations: ["p50", "p90", "p99"].map(function (k) { return { x: Math.log10(body[k]), yref: "paper", y: 1, text: k, showarrow: false, yanchor: "bottom", font: { size: 11, color: "#b42318" } }; }) });
        });
    }, 200);
    kindField.addEventListener("change", showKind);
    usage.addEventListener("input", update);
    usage.addEventListener("change", update);
    showKind();
    update();
  }
})();
