// The profile page's access-token countdown. A file of its own, not an inline script: the
// pages' Content-Security-Policy runs scripts from this origin only (example_app/templating.py).
//
// Counts down from the seconds left by the server's clock (not Date.now(): a browser's clock
// may be off). Nothing but this number ever reaches the page: the token stays on the server.
(function () {
  var el = document.getElementById("token-ttl");
  if (!el) return;
  var leeway = Number(el.dataset.leeway);
  var end = performance.now() + Number(el.dataset.remaining) * 1000;
  function tick() {
    var left = Math.max(0, Math.round((end - performance.now()) / 1000));
    el.textContent = left > 0 ? left + " s" : "expired";
    el.classList.toggle("due", left <= leeway);
    if (left > 0) setTimeout(tick, 250);
  }
  tick();
})();
