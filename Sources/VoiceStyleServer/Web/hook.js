// voicestyle serve: collects the page's errors (window.onerror, unhandled rejections, console.error) into
// window.__errors, read by the browser test; loaded before app.js. No upstream counterpart.
window.__errors = [];
window.addEventListener("error", (e) => { window.__errors.push(String((e && e.message) || e)); });
window.addEventListener("unhandledrejection", (e) => {
  window.__errors.push("unhandled rejection: " + String((e.reason && e.reason.message) || e.reason));
});
(function () {
  const original = console.error;
  console.error = function (...args) { window.__errors.push(args.map(String).join(" ")); original.apply(console, args); };
})();
