// Starts the GOV.UK Frontend components on every page. A file of our own rather than an inline script, so the
// Content-Security-Policy can refuse every inline script (an injected one included).
import { initAll } from "/assets/govuk-frontend.min.js";

initAll();
