// The status page: case number + PIN -> the case's state and counts; withdraw with a
// confirmation. The PIN travels in a header (X-Case-PIN), never in the URL, and is kept
// in memory only while the page is open.

import { setUpLanguage, t, language, onLanguageChange } from "./i18n.js";

const $ = (id) => document.getElementById(id);
let current = null; // {number, pin, body}

setUpLanguage();
onLanguageChange(() => current && render(current.body));

$("lookup").addEventListener("submit", async (event) => {
  event.preventDefault();
  const number = $("case").value.trim();
  const pin = $("pin").value.trim();
  hideError();
  if (!number || !pin) return showError(t("errorFormat"));
  const button = event.submitter || $("lookup").querySelector("button");
  button.disabled = true;
  button.textContent = t("checking");
  try {
    const body = await call("GET", number, pin);
    if (body) {
      current = { number: body.case_number, pin, body };
      render(body);
      $("case-box").focus();
    }
  } finally {
    button.disabled = false;
    button.textContent = t("checkCase");
  }
});

async function call(method, number, pin) {
  let response;
  try {
    response = await fetch(`/v1/cases/${encodeURIComponent(number)}`, {
      method,
      credentials: "omit",
      cache: "no-store",
      headers: { "X-Case-PIN": pin },
    });
  } catch {
    showError(t("errorStatusNetwork"));
    return null;
  }
  const body = await response.json().catch(() => null);
  if (response.ok && body) return body;
  const code = body?.error?.code;
  if (code === "case_auth_failed" || response.status === 401) showError(t("errorAuth"));
  else if (code === "case_locked") showError(t("errorLocked", { seconds: response.headers.get("Retry-After") || "60" }));
  else showError(t("errorServer"));
  return null;
}

function render(body) {
  $("case").value = body.case_number;
  $("case-shown").textContent = body.case_number;
  const state = body.status === "active" ? t("stateActive") : body.status === "withdrawn" ? t("stateWithdrawn") : body.status;
  $("case-state").textContent = state;
  const format = new Intl.DateTimeFormat(language(), { dateStyle: "long", timeStyle: "short" });
  $("case-created").textContent = format.format(new Date(body.created_at));
  $("case-items").textContent = String(body.items.length);
  $("case-matches").textContent = String(body.matches);
  $("case-removals").textContent = String(body.confirmed_removals);
  $("withdraw-box").hidden = body.status === "withdrawn";
  $("confirm").hidden = true;
  $("withdraw").hidden = false;
  $("case-box").hidden = false;
}

$("withdraw").addEventListener("click", () => {
  $("confirm").hidden = false;
  $("withdraw").hidden = true;
  $("confirm-no").focus();
});

$("confirm-no").addEventListener("click", () => {
  $("confirm").hidden = true;
  $("withdraw").hidden = false;
  $("withdraw").focus();
});

$("confirm-yes").addEventListener("click", async () => {
  if (!current) return;
  $("confirm-yes").disabled = true;
  try {
    const done = await call("DELETE", current.number, current.pin);
    if (!done) return;
    const body = await call("GET", current.number, current.pin);
    if (body) {
      current.body = body;
      render(body);
    }
    $("withdraw-status").textContent = t("withdrawn", { count: done.hashes_withdrawn });
  } finally {
    $("confirm-yes").disabled = false;
  }
});

function showError(message) {
  $("status-error").textContent = message;
  $("status-error").hidden = false;
}

function hideError() {
  $("status-error").hidden = true;
  $("status-error").textContent = "";
}
