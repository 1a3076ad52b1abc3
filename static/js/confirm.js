/* Forms with data-confirm="question" submit only when the user confirms (instead of an inline
 * onsubmit handler, which the Content-Security-Policy refuses). */
document.addEventListener("submit", function (event) {
  const question = event.target.dataset ? event.target.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
});
