// The profile page's access-token countdown. A file of its own, not an inline script: the
// pages' Content-Security-Policy runs scripts from this origin only (example_app/templating.py).
//
// Counts down from the seconds left by the server's clock (not Date.now(): a browser's clock
// may be off). Nothing but this number ever reaches the page: the token stays on the server.
// The words match the server's (templating.py, expires_in): "Expires in 42 s", "Expires in
// 4 min", "Expired"; once the token is due for refresh, a note says so in words too.
(function () {
  var el = document.getElementById("token-ttl");
  if (!el) return;
  var due = document.getElementById("token-due");
  var leeway = Number(el.dataset.leeway);
  var end = performance.now() + Number(el.dataset.remaining) * 1000;
  function phrase(left) {
    if (left <= 0) return "Expired";
    if (left < 120) return "Expires in " + left + " s";
    return "Expires in " + Math.round(left / 60) + " min";
  }
  function tick() {
    var left = Math.max(0, Math.round((end - performance.now()) / 1000));
    el.textContent = phrase(left);
    el.classList.toggle("due", left <= leeway);
    if (due) due.hidden = left > leeway;
    if (left > 0) setTimeout(tick, 250);
  }
  tick();
})();
