// The document page: after the "Download" link is used, fetch the person's own download
// receipts again and put them in place, so the receipt of the download just made is shown.
// The download itself is an ordinary link (an attachment); this only refreshes a list, and
// without the script the list is current on the next visit.
"use strict";
(function () {
  var link = document.getElementById("hub-download");
  var list = document.getElementById("hub-receipts");
  if (!link || !list || !window.fetch) {
    return;
  }
  var source = link.getAttribute("data-receipts");
  function refresh(attempt, known) {
    fetch(source, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.ok ? response.text() : Promise.reject(response.status);
      })
      .then(function (html) {
        var parsed = new DOMParser().parseFromString(html, "text/html");
        var fresh = parsed.getElementById("hub-receipts");
        if (!fresh) {
          return;
        }
        var rows = fresh.querySelectorAll("tbody tr").length;
        var current = document.getElementById("hub-receipts");
        current.replaceWith(document.importNode(fresh, true));
        // The event is committed before the first byte leaves, but the click comes first:
        // look again a few times until the new receipt is there.
        if (rows <= known && attempt < 5) {
          window.setTimeout(function () { refresh(attempt + 1, known); }, 500 * (attempt + 1));
        }
      })
      .catch(function () { /* the list stays as it was; the next visit shows it */ });
  }
  link.addEventListener("click", function () {
    var known = document.querySelectorAll("#hub-receipts tbody tr").length;
    window.setTimeout(function () { refresh(0, known); }, 300);
  });
})();
