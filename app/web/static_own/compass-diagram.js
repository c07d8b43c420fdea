// Draws each of a case's flows on its diagram with bpmn-js (the NavigatedViewer: drag to move, wheel to zoom)
// and marks every step with its state as a class on the drawn shape (compass-step--completed, --active,
// --overdue, --failed), styled in compass.css. The page lists the same steps in words, so nothing here is
// the only way to learn a step's state.
//
// The XML and the marks come from the page itself, in data attributes: nothing is fetched. A file rather
// than an inline script, so the Content-Security-Policy can refuse every inline script.
(function () {
  "use strict";

  var STATES = ["completed", "active", "overdue", "failed"];

  function say(container, text) {
    var message = document.createElement("p");
    message.className = "govuk-body compass-diagram__fallback";
    message.textContent = text;
    container.replaceChildren(message);
  }

  function draw(container) {
    var xml = container.getAttribute("data-bpmn-xml") || "";
    var markers = {};
    try {
      markers = JSON.parse(container.getAttribute("data-markers") || "{}");
    } catch (err) {
      markers = {};
    }
    container.replaceChildren();
    var viewer = new window.BpmnJS({ container: container });
    return viewer
      .importXML(xml)
      .then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        Object.keys(markers).forEach(function (id) {
          var state = markers[id];
          if (STATES.indexOf(state) !== -1 && registry.get(id)) {
            canvas.addMarker(id, "compass-step--" + state);
          }
        });
        canvas.zoom("fit-viewport", "auto");
        container.setAttribute("data-drawn", "true");
      })
      .catch(function () {
        say(container, "The diagram could not be drawn. The steps are listed below in words.");
        container.setAttribute("data-drawn", "false");
      });
  }

  var containers = document.querySelectorAll("[data-compass-diagram]");
  if (!containers.length) {
    return;
  }
  if (typeof window.BpmnJS !== "function") {
    containers.forEach(function (container) {
      say(container, "The diagram viewer did not load. The steps are listed below in words.");
    });
    return;
  }
  containers.forEach(draw);
})();
