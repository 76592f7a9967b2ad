// The review UI's only script: keyboard shortcuts and revealing one preview at a time.
// Everything works without it (links and forms); it only saves moderators' time and eyes.
"use strict";

(function () {
  const page = document.body.dataset.page;

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  // --- previews: blurred until revealed, one at a time, blurred again whenever the page is shown anew
  const previews = Array.from(document.querySelectorAll(".preview"));

  function setRevealed(figure, revealed) {
    figure.dataset.revealed = revealed ? "true" : "false";
    const button = figure.querySelector(".reveal");
    if (button) {
      button.setAttribute("aria-pressed", revealed ? "true" : "false");
      button.textContent = revealed ? "Blur again (v)" : "Reveal (v)";
    }
  }

  function blurAll() { previews.forEach((f) => setRevealed(f, false)); }

  function toggle(figure) {
    const reveal = figure.dataset.revealed !== "true";
    blurAll();
    if (reveal) setRevealed(figure, true);
  }

  previews.forEach((figure) => {
    const button = figure.querySelector(".reveal");
    if (button) button.addEventListener("click", () => toggle(figure));
  });
  // Coming back with the browser's back button must not show a revealed picture.
  window.addEventListener("pageshow", blurAll);
  window.addEventListener("pagehide", blurAll);

  // --- queue: a highlighted row moved with j/k
  const rows = Array.from(document.querySelectorAll("tr.row"));
  let current = -1;

  function highlight(i) {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((r, n) => r.classList.toggle("current", n === current));
    rows[current].querySelector("a.open").focus();
  }

  function follow(selector) {
    const link = document.querySelector(selector);
    if (link) window.location.assign(link.href);
  }

  function choose(id) {
    const radio = document.getElementById(id);
    const reason = document.getElementById("reason");
    if (!radio || !reason) return;
    radio.checked = true;
    reason.focus();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const key = event.key;
    let handled = true;
    if (page === "queue") {
      if (key === "j") highlight(current + 1);
      else if (key === "k") highlight(current - 1);
      else if ((key === "o" || key === "Enter") && current >= 0) window.location.assign(rows[current].dataset.href);
      else if (key === "x" && current >= 0) {
        const box = rows[current].querySelector("input[type=checkbox]");
        if (box) box.checked = !box.checked;
      } else handled = false;
    } else if (page === "item") {
      if (key === "j") follow("#next");
      else if (key === "k") follow("#prev");
      else if (key === "v") { if (previews.length) toggle(previews[0]); }
      else if (key === "r") choose("d-remove");
      else if (key === "n") choose("d-not");
      else if (key === "e") choose("d-escalate");
      else handled = false;
    } else handled = false;
    if (handled) event.preventDefault();
  });
})();
