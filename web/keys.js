"use strict";
// Expected keys ("/hosts/{hostname}/keys"): the keys this host really serves (SPEC 6.2), to
// view and edit. Saving replaces the host's set and re-evaluates its groups.
(function () {
  const { el, api, section, empty, link } = PW;
  const LABELS = ["current", "backup", "ca", "cdn"];

  function keyRow(k, onRemove) {
    const tr = el(
      "tr",
      { class: "key-row" },
      el(
        "td",
        {},
        el("input", {
          name: "pin",
          class: "pin-input",
          value: k.pin || "",
          size: "46",
          "aria-label": "pin (base64 SPKI SHA-256)",
          placeholder: "base64 of the SPKI SHA-256",
          required: true,
        }),
      ),
      el(
        "td",
        {},
        el(
          "select",
          { name: "label", "aria-label": "label" },
          LABELS.map((l) => el("option", { value: l, selected: k.label === l }, l)),
        ),
      ),
      el(
        "td",
        {},
        el("button", {
          type: "button",
          class: "link",
          text: "Remove",
          onclick: () => {
            tr.remove();
            onRemove();
          },
        }),
      ),
    );
    return tr;
  }

  PW.route(/^\/hosts\/([^/]+)\/keys$/, async function keys(hostname) {
    const path = "/v1/hosts/" + encodeURIComponent(hostname) + "/keys";
    const body = await api(path);
    const tbody = el("tbody", {});
    const none = empty(
      "No expected key is declared for this host.",
      "Add the pins of the keys your servers serve (current, backup, CA, CDN): a report whose chain holds one is our own misconfiguration, not interception.",
    );
    const sync = () => {
      none.hidden = tbody.children.length > 0;
    };
    for (const k of body.keys || []) tbody.append(keyRow(k, sync));
    const msg = el("p", { id: "keys-msg", "aria-live": "polite" });
    const form = el(
      "form",
      { id: "keys" },
      el(
        "div",
        { class: "scroll-x" },
        el(
          "table",
          {},
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              ["pin", "label", ""].map((h) => el("th", { scope: "col", text: h })),
            ),
          ),
          tbody,
        ),
      ),
      none,
      el(
        "p",
        {},
        el("button", {
          type: "button",
          text: "Add a key",
          onclick: () => {
            const r = keyRow({ label: "current" }, sync);
            tbody.append(r);
            sync();
            r.querySelector("input").focus();
          },
        }),
        " ",
        el("button", { type: "submit", text: "Save" }),
      ),
      msg,
    );
    sync();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const keys = [...tbody.querySelectorAll("tr")].map((tr) => ({
        pin: tr.querySelector("input").value.trim(),
        label: tr.querySelector("select").value,
      }));
      msg.className = "";
      msg.textContent = "Saving…";
      try {
        const r = await api(path, {
          method: "PUT",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ keys }),
        });
        msg.className = "ok";
        msg.textContent = "Saved " + (r.keys || keys).length + " key(s); the host's groups are re-evaluated.";
      } catch (err) {
        if (err instanceof PW.AuthError) {
          PW.render();
          return;
        }
        msg.className = "error";
        msg.textContent = "Not saved (nothing changed): " + err.message;
      }
    });
    return [
      el(
        "p",
        { class: "crumbs" },
        link(PW.withFilters("/"), "Overview"),
        " / ",
        link("/pinsets", "Pin sets"),
        " / expected keys",
      ),
      el("h1", {}, "Expected keys of ", el("code", { text: hostname })),
      section("Declared keys", form),
    ];
  });
})();
