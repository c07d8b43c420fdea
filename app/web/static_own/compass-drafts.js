// Saves the draft of a form as the user types, so a long call survives a time-out or a closed tab.
//
// Progressive enhancement: the form posts and works the same without this script. It posts the form's own
// fields (with its CSRF token) to the form's data-draft-url at most every few seconds while something has
// changed, and once more with navigator.sendBeacon when the page is hidden or left. It never holds up a submit.
(function () {
  "use strict";

  var SAVE_EVERY_MS = 5000;
  var form = document.querySelector("form[data-draft-url]");
  if (!form || !window.fetch || !window.FormData || !window.URLSearchParams) {
    return;
  }
  var url = form.getAttribute("data-draft-url");
  var target = form.getAttribute("data-draft-target");
  var status = form.querySelector("[data-draft-status]");
  var timer = null;
  var sending = false;
  var stopped = false; // the form was sent, or the server said this page's draft is no longer wanted
  var lastSaved = fields(); // what the page was drawn with needs no saving

  // The form's fields as one string, to tell whether anything changed since the last save.
  function fields() {
    return new URLSearchParams(new FormData(form)).toString();
  }

  function payload() {
    var data = new FormData(form);
    data.set("_draft", target);
    return data;
  }

  function show(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function save() {
    timer = null;
    if (stopped || sending) {
      return;
    }
    var now = fields();
    if (now === lastSaved) {
      return;
    }
    sending = true;
    fetch(url, {
      method: "POST",
      body: payload(),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        // A signed-out session is sent to the sign-in page: that is HTML, not an answer from /drafts.
        if (response.redirected || !json) {
          show("Your draft could not be saved. Your answers are still on this page.");
          return null;
        }
        return response.json().then(function (answer) {
          if (response.ok) {
            lastSaved = now;
            show("Draft saved at " + answer.shown);
          } else {
            if (response.status === 409 || response.status === 403 || response.status === 404) {
              stopped = true;
            }
            show(answer.message || "Your draft could not be saved.");
          }
        });
      })
      .catch(function () {
        show("Your draft could not be saved just now; it will be tried again as you type.");
      })
      .then(function () {
        sending = false;
        // Typing during the save changed the form again: keep it for the next round.
        if (!stopped && fields() !== lastSaved) {
          schedule();
        }
      });
  }

  function schedule() {
    // Not restarted by each key press: someone typing for minutes on end still has a draft every few seconds.
    if (timer === null && !stopped) {
      timer = window.setTimeout(save, SAVE_EVERY_MS);
    }
  }

  // Leaving, closing or switching away from the page: the last few seconds are sent with the page's unload.
  function saveOnLeaving() {
    if (stopped || !navigator.sendBeacon) {
      return;
    }
    var now = fields();
    if (now !== lastSaved && navigator.sendBeacon(url, payload())) {
      lastSaved = now;
    }
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  form.addEventListener("submit", function () {
    // The form itself carries the answers now; a late draft must not race it.
    stopped = true;
    if (timer !== null) {
      window.clearTimeout(timer);
      timer = null;
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      saveOnLeaving();
    }
  });
  window.addEventListener("pagehide", saveOnLeaving);
})();
