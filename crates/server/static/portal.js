// The portal's only script: keeps a running operation's steps up to date, and turns
// times typed in the person's zone into UTC offsets the server can trust.
"use strict";

// Operation pages: fetch the steps every second while the operation runs; when its
// state changes, reload the page so the right buttons show.
function followOperation() {
  const card = document.querySelector("[data-poll]");
  if (!card) return;
  const live = () => card.querySelector("#live");
  const initial = live().dataset.state;
  if (live().dataset.live !== "true") return;
  const poll = async () => {
    try {
      const answer = await fetch(card.dataset.poll, { credentials: "same-origin" });
      // A redirect means the session ended: the reload shows the sign-in page.
      if (answer.redirected) return window.location.reload();
      if (answer.ok) {
        card.innerHTML = await answer.text();
        if (!live()) return window.location.reload();
        if (live().dataset.state !== initial) return window.location.reload();
        if (live().dataset.live !== "true") return;
      }
    } catch (e) { /* the next poll tries again */ }
    setTimeout(poll, 1000);
  };
  setTimeout(poll, 1000);
}

// Forms with local times: each `datetime-local` field gets its zone's offset from UTC
// (for that date, so summer time is right) in the hidden field `<name>_offset`.
function sendOffsets() {
  for (const form of document.querySelectorAll("form.local-times")) {
    form.addEventListener("submit", () => {
      for (const input of form.querySelectorAll("input[type=datetime-local]")) {
        const offset = form.querySelector(`input[name="${input.name}_offset"]`);
        if (offset && input.value) offset.value = String(-new Date(input.value).getTimezoneOffset());
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => { followOperation(); sendOffsets(); });
