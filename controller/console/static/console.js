// The store console's little script: live label images (Server-Sent Events) and "select all".
// No framework and nothing fetched from elsewhere; the pages work without it, only less live.
"use strict";

(function () {
  const tiles = () => document.querySelectorAll("[data-label]");

  function refresh(change) {
    document.querySelectorAll(`[data-label="${CSS.escape(change.id)}"]`).forEach((el) => {
      const img = el.querySelector("img.displayed, .tile img") || el.querySelector("img");
      const displayed = el.querySelector("img.displayed") || (el.classList.contains("tile") ? img : null);
      if (displayed) {
        const url = new URL(displayed.src, location.href);
        if (url.searchParams.get("v") !== change.v) {
          url.searchParams.set("v", change.v);
          displayed.src = url.pathname + url.search;
          el.classList.remove("updated");
          void el.offsetWidth; // restart the highlight
          el.classList.add("updated");
        }
      }
      if (el.classList.contains("tile")) {
        ["stale", "offline", "failed"].forEach((m) => el.classList.toggle(`is-${m}`, change.marks.includes(m)));
        const marks = el.querySelector(".marks");
        if (marks) {
          marks.replaceChildren(...change.marks.map((m) => {
            const span = document.createElement("span");
            span.className = `mark mark-${m}`;
            span.textContent = m;
            return span;
          }));
        }
      }
    });
  }

  function live() {
    if (!tiles().length || !window.EventSource) return;
    const status = document.getElementById("live");
    const source = new EventSource("/console/events");
    source.onopen = () => { if (status) { status.textContent = "Live"; status.classList.add("on"); } };
    source.onerror = () => { if (status) { status.textContent = "Reconnecting…"; status.classList.remove("on"); } };
    source.addEventListener("labels", (event) => JSON.parse(event.data).forEach(refresh));
    // "4,000 / 20,000 labels confirmed, ~45 s left" while the store converges; empty: hide.
    source.addEventListener("progress", (event) => {
      const line = document.getElementById("progress");
      if (!line) return;
      line.textContent = JSON.parse(event.data).text;
      line.hidden = !line.textContent;
    });
    window.addEventListener("pagehide", () => source.close());
  }

  function selectAll() {
    document.querySelectorAll("[data-select-all]").forEach((box) => {
      const name = box.dataset.selectAll;
      box.addEventListener("change", () => {
        box.form.querySelectorAll(`input[type=checkbox][name="${name}"]`).forEach((c) => { c.checked = box.checked; });
      });
    });
  }

  live();
  selectAll();
})();
