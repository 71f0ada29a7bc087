// A running verification's page: fetch the page again every two seconds and put its progress
// in place, until the verification has ended. Without the script the page has a "Refresh"
// link, and shows the state as of its loading.
"use strict";
(function () {
  var INTERVAL = 2000;
  if (!window.fetch || !window.DOMParser) {
    return;
  }
  function running() {
    var current = document.getElementById("hub-verification");
    return current && current.getAttribute("data-running") === "true";
  }
  function poll() {
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.ok ? response.text() : Promise.reject(response.status);
      })
      .then(function (html) {
        var parsed = new DOMParser().parseFromString(html, "text/html");
        var fresh = parsed.getElementById("hub-verification");
        var current = document.getElementById("hub-verification");
        if (!fresh || !current) {
          return;
        }
        // The region's content only: it stays the same live region, so the change is read out.
        current.replaceChildren.apply(
          current,
          Array.prototype.map.call(fresh.childNodes, function (node) {
            return document.importNode(node, true);
          })
        );
        if (fresh.getAttribute("data-running") === "true") {
          current.setAttribute("data-running", "true");
        } else {
          current.removeAttribute("data-running");
        }
        if (running()) {
          window.setTimeout(poll, INTERVAL);
        }
      })
      .catch(function () { /* the Refresh link still works */ });
  }
  if (running()) {
    window.setTimeout(poll, INTERVAL);
  }
})();
