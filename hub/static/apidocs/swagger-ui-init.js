// Starts Swagger UI on /docs. A file of its own rather than an inline script, so the page's
// Content-Security-Policy needs no 'unsafe-inline'; the page says where the OpenAPI document
// is (data-openapi-url), since the hub may be served under a path prefix.
"use strict";
(function () {
  var element = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: element.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // Swagger UI would otherwise send the whole API description to validator.swagger.io.
    validatorUrl: null,
    // A token pasted into "Authorize" stays in this page's memory, never in localStorage.
    persistAuthorization: false
  });
})();
