/* Observability pages: while "Live" is on, reload the page's content every 10 s (charts are server SVG). */
(function () {
  "use strict";
  var live = document.getElementById("live-toggle");
  var main = document.querySelector("main.container");
  if (!main) { return; }
  var busy = false;
  function refresh() {
    if (busy || document.hidden || (live && !live.checked)) { return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { if (!response.ok) { throw new Error("HTTP " + response.status); } return response.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector("main.container");
        if (fresh) { main.replaceChildren.apply(main, Array.prototype.slice.call(fresh.childNodes)); }
      })
      .catch(function () { /* keep the last content; the next tick tries again */ })
      .then(function () { busy = false; });
  }
  setInterval(refresh, 10000);
})();
