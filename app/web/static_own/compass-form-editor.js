// The form editor's live preview: as the process owner types the form's JSON, the preview is drawn again by
// the server (the same view-models and macros as a worker's task page) a moment after they stop typing.
//
// Progressive enhancement: without this script the page's "Preview" button draws the typed JSON. Only the
// preview is fetched and replaced; nothing is saved. A file rather than an inline script, so the
// Content-Security-Policy can refuse every inline script.
import { Checkboxes, createAll, Radios } from "/assets/govuk-frontend.min.js";

const WAIT_MS = 600;
const textarea = document.querySelector("textarea[data-preview-url]");
const preview = document.getElementById("editor--preview");
const status = document.getElementById("editor--preview-status");

function say(text) {
  if (status) {
    status.textContent = text;
  }
}

if (textarea && preview && textarea.form && window.fetch && window.FormData) {
  const url = textarea.getAttribute("data-preview-url");
  let timer = null;
  let asked = 0; // the number of the latest request: an answer to an older one arrives late and is dropped
  let drawn = textarea.value;

  const draw = () => {
    timer = null;
    if (textarea.value === drawn) {
      return;
    }
    const text = textarea.value;
    const number = ++asked;
    const body = new FormData();
    body.set("csrf_token", textarea.form.elements.namedItem("csrf_token").value);
    body.set("schema_json", text);
    fetch(url, { method: "POST", body: body, credentials: "same-origin", headers: { Accept: "text/html" } })
      .then((response) => {
        const html = (response.headers.get("Content-Type") || "").indexOf("text/html") === 0;
        // Only a 200 is a preview (drawn, or the reasons it cannot be): a sign-in page or an error page is not.
        if (response.redirected || !html || response.status !== 200) {
          say("The preview could not be updated. Use the Preview button to draw it.");
          return null;
        }
        return response.text().then((fragment) => {
          if (number !== asked) {
            return;
          }
          drawn = text;
          preview.innerHTML = fragment;
          // The new questions' radios and checkboxes reveal their follow-up questions as on a task page.
          createAll(Radios, undefined, preview);
          createAll(Checkboxes, undefined, preview);
          const refused = preview.querySelector("#editor--preview-problems") !== null;
          say(refused ? "The preview cannot be drawn: see the reasons below." : "Preview updated.");
        });
      })
      .catch(() => {
        say("The preview could not be updated just now; it will be tried again as you type.");
      });
  };

  textarea.addEventListener("input", () => {
    if (timer !== null) {
      window.clearTimeout(timer);
    }
    timer = window.setTimeout(draw, WAIT_MS);
  });
}
