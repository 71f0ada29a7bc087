// The upload form: send it with XMLHttpRequest to show the upload's progress, then show the
// answer page (the receipt, or the form with what went wrong). Without the script, or where
// XMLHttpRequest upload events are missing, the form posts as an ordinary form.
"use strict";
(function () {
  var form = document.getElementById("hub-upload");
  if (!form || !window.XMLHttpRequest || !window.FormData) {
    return;
  }
  var box = form.querySelector(".hub-progress");
  var bar = document.getElementById("hub-upload-progress");
  form.addEventListener("submit", function (event) {
    var request = new XMLHttpRequest();
    if (!request.upload) {
      return; // the plain POST
    }
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    if (button) {
      button.disabled = true;
    }
    box.hidden = false;
    request.upload.addEventListener("progress", function (progress) {
      if (progress.lengthComputable) {
        bar.value = Math.round((progress.loaded / progress.total) * 100);
      }
    });
    request.addEventListener("load", function () {
      var answer = request.responseXML;
      if (answer && answer.documentElement) {
        document.title = answer.title;
        document.body.replaceWith(document.importNode(answer.body, true));
      } else {
        form.submit();
      }
    });
    request.addEventListener("error", function () {
      if (button) {
        button.disabled = false;
      }
      box.hidden = true;
    });
    request.open("POST", form.action);
    request.responseType = "document";
    // FormData keeps the fields in the form's order: csrf_token first, file last.
    request.send(new FormData(form));
  });
})();
