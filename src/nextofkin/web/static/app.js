// nextofkin keyboard shortcuts. No inline handlers anywhere (CSP: script-src 'self').
(function () {
  "use strict";
  let pendingG = false;

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  function cards() { return Array.from(document.querySelectorAll("[data-candidate]")); }
  function current() { return document.querySelector("[data-candidate].current") || cards()[0] || null; }
  function select(card) {
    cards().forEach(function (c) { c.classList.remove("current"); });
    if (!card) { return; }
    card.classList.add("current");
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }
  function move(step) {
    const all = cards();
    if (!all.length) { return; }
    const i = all.indexOf(current());
    select(all[Math.max(0, Math.min(all.length - 1, i + step))]);
  }
  function prepare(verdict) {
    const card = current();
    const form = card && card.querySelector("[data-decide]");
    if (!form) { return; }
    select(card);
    form.classList.remove("pending-confirm", "pending-reject");
    form.classList.add("pending-" + verdict);
    form.dataset.verdict = verdict;
    const reason = form.querySelector("input[name=reason]");
    reason.placeholder = (verdict === "confirm" ? "Confirm" : "Reject") + ": reason, then Ctrl+Enter (Esc cancels)";
    reason.focus();
  }
  function cancel(form) {
    form.classList.remove("pending-confirm", "pending-reject");
    delete form.dataset.verdict;
    form.querySelector("input[name=reason]").placeholder = "Reason (kept in the record)";
    const card = form.closest("[data-candidate]");
    if (card) { card.focus(); }
  }

  document.addEventListener("keydown", function (event) {
    const form = event.target.closest && event.target.closest("[data-decide]");
    if (form && event.key === "Escape") { cancel(form); event.preventDefault(); return; }
    if (form && event.key === "Enter") {
      // Plain Enter must never decide by accident: only Ctrl/Cmd+Enter with a chosen verdict.
      event.preventDefault();
      if ((event.ctrlKey || event.metaKey) && form.dataset.verdict) {
        form.querySelector("button[value=" + form.dataset.verdict + "]").click();
      }
      return;
    }
    if (typing(event.target) || event.altKey || event.ctrlKey || event.metaKey) { return; }
    if (pendingG) {
      pendingG = false;
      const target = { d: "/", c: "/cases", a: "/audit", g: "/status" }[event.key];
      if (target) { window.location.assign(target); event.preventDefault(); }
      return;
    }
    switch (event.key) {
      case "j": case "ArrowDown": if (cards().length) { move(1); event.preventDefault(); } break;
      case "k": case "ArrowUp": if (cards().length) { move(-1); event.preventDefault(); } break;
      case "c": prepare("confirm"); event.preventDefault(); break;
      case "r": prepare("reject"); event.preventDefault(); break;
      case "n": {
        const next = document.querySelector("[data-next]");
        if (next) { next.click(); event.preventDefault(); }
        break;
      }
      case "g": pendingG = true; setTimeout(function () { pendingG = false; }, 1200); break;
      case "/": {
        const box = document.querySelector("[data-search]");
        if (box) { box.focus(); } else { window.location.assign("/accounts"); }
        event.preventDefault();
        break;
      }
      case "?": {
        const help = document.getElementById("help");
        if (help && !help.open) { help.showModal(); }
        event.preventDefault();
        break;
      }
      default: break;
    }
  });

  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-help]");
    if (button) { document.getElementById("help").showModal(); }
    const card = event.target.closest && event.target.closest("[data-candidate]");
    if (card && !card.classList.contains("current")) {
      cards().forEach(function (c) { c.classList.remove("current"); });
      card.classList.add("current");
    }
  });

  // After a decision the page comes back at #cand-N: select that card again.
  function restore() {
    const hash = window.location.hash;
    const card = hash.startsWith("#cand-") ? document.querySelector(hash) : null;
    if (card) { select(card); }
  }
  document.addEventListener("DOMContentLoaded", restore);
  document.addEventListener("htmx:afterSettle", restore);
})();
