/* "Copy" buttons: <button data-copy="element-id"> copies that element's text. */
document.addEventListener("click", function (event) {
  const button = event.target.closest ? event.target.closest("[data-copy]") : null;
  if (!button) return;
  const text = document.getElementById(button.dataset.copy).textContent.trim();
  navigator.clipboard.writeText(text).then(function () {
    button.textContent = "Copied";
  });
});
