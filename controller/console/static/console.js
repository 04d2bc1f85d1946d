// The store console's little script: live label images (Server-Sent Events), "select all", and
// lists that keep themselves current (the alerts: a fragment fetched again every few seconds).
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

  // A `data-poll` region: its fragment fetched every `data-poll-s` seconds and swapped in when it
  // changed, but not while the focus is inside it (someone about to press one of its buttons)
  // nor while the page is hidden. A session that ended answers with the login page: stop there,
  // or, for a region marked `data-poll-reload` (a fitting room's kiosk tablet, where nobody reads
  // a status line), reload, which shows the login page.
  function poll() {
    document.querySelectorAll("[data-poll]").forEach((region) => {
      const status = document.getElementById("poll-status");
      const say = (text, on) => {
        if (!status || status.textContent === text) return;
        status.textContent = text;
        status.classList.toggle("on", on);
      };
      let last = null;
      let timer = null;
      async function tick() {
        if (document.hidden) return;
        try {
          const answer = await fetch(region.dataset.poll, { headers: { Accept: "text/html" }, cache: "no-store" });
          if (answer.redirected) {
            clearInterval(timer);
            if ("pollReload" in region.dataset) {
              location.reload();
              return;
            }
            say("Signed out: reload the page", false);
            return;
          }
          if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
          const text = await answer.text();
          if (text !== last && !region.contains(document.activeElement)) {
            region.innerHTML = text;
            last = text;
          }
          say("Live", true);
        } catch (error) {
          say("Reconnecting…", false);
        }
      }
      timer = setInterval(tick, 1000 * (Number(region.dataset.pollS) || 5));
      document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
      tick();
    });
  }

  live();
  selectAll();
  poll();
})();
