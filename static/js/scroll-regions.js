/* A table wider than its card scrolls sideways inside its .table-scroll box. A box that scrolls
 * is made a focusable region named after its table, so keyboard users can scroll it with the
 * arrow keys (WCAG 2.1.1; axe's rule scrollable-region-focusable); a box that fits stays out of
 * the tab order. Checked again when the window is resized. */
(function () {
  "use strict";

  function heading(box) {
    for (let el = box.previousElementSibling; el; el = el.previousElementSibling) {
      if (/^H[1-4]$/.test(el.tagName)) return el.textContent.trim();
    }
    const section = box.closest("section, .card");
    const title = section && section.querySelector("h1, h2, h3, h4");
    return title ? title.textContent.trim() : "Table";
  }

  function update() {
    document.querySelectorAll(".table-scroll").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        box.tabIndex = 0;
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", heading(box) + " (scrolls sideways)");
      } else if (box.getAttribute("role") === "region") {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
      }
    });
  }

  update();
  window.addEventListener("resize", update);
})();
