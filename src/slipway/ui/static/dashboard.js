// Slipway dashboard: progressive enhancement only; every page reads fine without it.
"use strict";

// Mutations from the dashboard carry the session cookie and this header. A cross-site form
// cannot set a custom header, so its presence proves the request came from our own page.
const CSRF_HEADER = "X-Slipway-CSRF";

function setupRollback() {
  const box = document.getElementById("rollback");
  if (!box) return;
  const button = document.getElementById("rollback-button");
  const progress = document.getElementById("rollback-progress");
  const failure = document.getElementById("rollback-error");
  const reason = document.getElementById("rollback-reason");
  button.addEventListener("click", async () => {
    if (!window.confirm("Roll back this deployment's last change? This commits a revert.")) return;
    button.disabled = true;
    failure.hidden = true;
    progress.hidden = false;
    try {
      const response = await fetch(box.dataset.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", [CSRF_HEADER]: "1" },
        body: JSON.stringify({ reason: reason.value }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        const message = (body.error && body.error.message) || response.statusText;
        throw new Error(`rollback refused (${response.status}): ${message}`);
      }
      progress.textContent = `Rolled back: commit ${body.commit.slice(0, 12)}. Reloading…`;
      window.location.reload();
    } catch (err) {
      progress.hidden = true;
      failure.textContent = err.message;
      failure.hidden = false;
      button.disabled = false;
    }
  });
}

function setupAutosubmit() {
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
}

function setupCompare() {
  const form = document.getElementById("compare-form");
  if (!form) return;
  const button = document.getElementById("compare-button");
  const update = () => {
    button.disabled = form.querySelectorAll("input[name=run]:checked").length < 2;
  };
  form.addEventListener("change", update);
  update();
}

document.addEventListener("DOMContentLoaded", () => {
  setupRollback();
  setupAutosubmit();
  setupCompare();
});
