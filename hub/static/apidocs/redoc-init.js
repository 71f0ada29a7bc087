// Starts ReDoc on /redoc. A file of its own rather than an inline script, so the page's
// Content-Security-Policy needs no 'unsafe-inline'. ReDoc writes its styles into <style>
// elements at run time; the page's CSP accepts them by nonce, so ReDoc is given this script's
// (the bundle also takes it from its own <script> element, for the styles it writes while it
// loads: see hub/static/vendor/README.md).
"use strict";
(function () {
  var element = document.getElementById("redoc");
  Redoc.init(element.dataset.openapiUrl, { nonce: document.currentScript.nonce }, element);
})();
