// The question the dashboard asks before a key goes to a host its provider does not own. The
// engine refuses such a base URL (error code `host_not_confirmed`) until the change names the
// host it confirms, so nobody can redirect a key by changing one setting.

import { h } from "./format.js";

/** The host of a base URL as typed (lowercased by the URL parser), or "" when it is none. */
export function hostOf(url) {
  try {
    return new URL(url).hostname;
  } catch {
    return "";
  }
}

/**
 * Shows the engine's `message` in `place` with "Send the key to HOST" and "Cancel"; resolves
 * to true when the user confirms, false when they cancel.
 */
export function askToConfirmHost(place, message, host) {
  return new Promise((resolve) => {
    const answer = (yes) => {
      place.replaceChildren();
      resolve(yes);
    };
    const yes = h("button", { type: "button", class: "danger", onclick: () => answer(true) }, `Send the key to ${host}`);
    const no = h("button", { type: "button", onclick: () => answer(false) }, "Cancel");
    place.replaceChildren(h("div", { class: "confirm", role: "alertdialog", "aria-label": `Send the key to ${host}?` },
      h("p", {}, message),
      h("div", { class: "actions" }, yes, no)));
    no.focus();
  });
}
