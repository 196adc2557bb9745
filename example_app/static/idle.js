// The idle-timeout warning on every signed-in page (templates/base.html), a file of its own:
// the pages' Content-Security-Policy runs scripts from this origin only (templating.py).
//
// The kit ends a session nobody used for SESSION_IDLE_TIMEOUT seconds. A minute before (the
// element's data-lead), this shows "You will be signed out in 60 s" with "Stay signed in",
// which POSTs to /auth/session: the kit marks the session active and answers its new ends.
// When the session has ended, the page goes to the signed-out home page ("/?ended=idle"):
// reloading a protected page would log in again at once through the provider's own session.
//
// Times are the server's (data-now, and the epoch seconds /auth/session answers), counted on
// with performance.now(): a browser's clock may be off. Nothing here polls the server: every
// request counts as activity, so a page asking "am I still signed in?" would keep the
// session alive for ever. Tabs tell each other their newest idle end (BroadcastChannel):
// two idle tabs must not keep each other's session going by reloading in turn.
(function () {
  var box = document.getElementById("idle-warning");
  if (!box) return;
  var data = box.dataset;
  var left = document.getElementById("idle-left");
  var stay = document.getElementById("idle-stay");
  var start = performance.now();
  var idleAt = Number(data.idleExpiresAt);
  var absoluteAt = Number(data.absoluteExpiresAt);
  var lead = Number(data.lead);
  var channel = "BroadcastChannel" in window ? new BroadcastChannel("idle-timeout") : null;
  var returnFocus = null;
  var timer = null;
  var pending = false; // a "Stay signed in" POST under way

  function now() {
    return Number(data.now) + (performance.now() - start) / 1000;
  }

  function show(seconds) {
    left.textContent = seconds + " s";
    if (!box.hidden) return;
    returnFocus = document.activeElement;
    box.hidden = false;
    stay.focus();
  }

  function hide() {
    if (box.hidden) return;
    box.hidden = true;
    if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
  }

  function moved(newIdleAt) {
    if (newIdleAt <= idleAt) return;
    idleAt = newIdleAt;
    tick();
  }

  function tick() {
    clearTimeout(timer);
    var idleFirst = idleAt < absoluteAt;
    var seconds = Math.ceil(Math.min(idleAt, absoluteAt) - now());
    // One second past the end: by then the server has surely ended the session too.
    if (seconds < 0) {
      location.assign(data.signedOut + (idleFirst ? "idle" : "expired"));
      return;
    }
    if (idleFirst && seconds <= lead) show(Math.max(seconds, 0));
    else hide();
    timer = setTimeout(tick, 250);
  }

  stay.addEventListener("click", function () {
    if (pending) return;
    pending = true;
    fetch(data.sessionUrl, { method: "POST", credentials: "same-origin" })
      .then(function (response) {
        // 401: the session ended meanwhile (timed out, or signed out from elsewhere).
        if (response.status === 401) idleAt = absoluteAt = 0;
        return response.ok ? response.json() : null;
      })
      .then(function (body) {
        if (!body) return;
        hide();
        moved(body.idle_expires_at);
        if (channel) channel.postMessage(idleAt);
      })
      .catch(function () {}) // offline: the warning stays, and the button works again
      .finally(function () {
        pending = false;
        tick();
      });
  });

  if (channel) {
    channel.onmessage = function (event) {
      moved(Number(event.data));
    };
    channel.postMessage(idleAt); // this page's load may have moved the idle end
  }
  tick();
})();
