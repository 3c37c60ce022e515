"use strict";
// Pin sets ("/pinsets"): the pins each app version ships, their health, and a rotation check
// (paste the candidate chain, see which versions it would break).
(function () {
  const { el, api, request, apiQuery, filters, section, empty, time, link, plural, versionLabel } = PW;

  function pinsetRow(p) {
    const findings = p.findings || [];
    return el(
      "tr",
      { "data-app": p.app, "data-version": p.version == null ? "" : p.version, "data-hostname": p.hostname },
      el("td", { text: p.app }),
      el("td", { text: versionLabel(p.version, p.app) }),
      el(
        "td",
        {},
        link("/hosts/" + encodeURIComponent(p.hostname) + "/keys", p.hostname, {
          title: "expected keys of " + p.hostname,
        }),
      ),
      el(
        "td",
        {},
        el(
          "ul",
          { class: "pins" },
          (p.pins || []).map((x) => el("li", {}, el("code", { text: x }))),
        ),
      ),
      el("td", { text: plural(p.reports, "report") + ", " + plural(p.devices, "device") }),
      el("td", {}, (p.pins_expire || []).length ? p.pins_expire.map((t) => time(t)) : "–"),
      el(
        "td",
        {},
        findings.length === 0
          ? el("span", { class: "ok", text: "healthy" })
          : el(
              "ul",
              { class: "findings" },
              findings.map((x) =>
                el("li", { "data-code": x.code }, el("code", { class: "bad", text: x.code }), " ", x.detail),
              ),
            ),
      ),
    );
  }

  function rotationForm(f) {
    const host = el("input", {
      name: "hostname",
      id: "rc-host",
      required: true,
      value: f.hostname,
      placeholder: "api.example.com",
    });
    const pem = el("textarea", {
      name: "pem",
      id: "rc-pem",
      rows: "8",
      required: true,
      placeholder: "-----BEGIN CERTIFICATE-----\n(leaf first, then intermediates)\n-----END CERTIFICATE-----",
    });
    const out = el("div", { id: "rc-result", "aria-live": "polite" });
    const form = el(
      "form",
      { class: "rotation", id: "rotation" },
      el("label", {}, "Hostname", host),
      el("label", { class: "wide" }, "Candidate chain (PEM)", pem),
      el("button", { type: "submit", text: "Check the rotation" }),
      out,
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      out.replaceChildren(el("p", { class: "muted", text: "Checking…" }));
      try {
        const r = await request("/v1/hosts/" + encodeURIComponent(host.value.trim()) + "/rotation-check", {
          method: "POST",
          headers: { "Content-Type": "application/x-pem-file" },
          body: pem.value,
        });
        const body = await r.json();
        if (!r.ok) throw new Error((body.error || r.status) + ": " + (body.detail || ""));
        const sets = body.pinsets || [];
        out.replaceChildren(
          el("p", {
            class: body.breaking ? "bad summary" : "ok summary",
            id: "rc-summary",
            text: body.breaking
              ? "This chain would break " +
                plural(body.breaking, "pin set") +
                ": " +
                plural(body.devices_at_risk, "device") +
                " and " +
                plural(body.reports_at_risk, "report") +
                " at risk."
              : sets.length
                ? "No pin set seen in the last 30 days would break."
                : "No pin set of this host was seen in the last 30 days.",
          }),
          sets.length === 0
            ? null
            : el(
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
                      ["app", "version", "result", "devices", "reports"].map((h) =>
                        el("th", { scope: "col", text: h }),
                      ),
                    ),
                  ),
                  el(
                    "tbody",
                    {},
                    sets.map((s) =>
                      el(
                        "tr",
                        { "data-breaks": String(!!s.breaks) },
                        el("td", { text: s.app }),
                        el("td", { text: versionLabel(s.version, s.app) }),
                        el("td", {
                          class: s.breaks ? "bad" : "ok",
                          text: s.breaks ? "breaks" : "keeps working",
                        }),
                        el("td", { text: s.devices }),
                        el("td", { text: s.reports }),
                      ),
                    ),
                  ),
                ),
              ),
        );
      } catch (err) {
        if (err instanceof PW.AuthError) {
          PW.render();
          return;
        }
        out.replaceChildren(el("p", { class: "error", role: "alert", text: "Check failed: " + err.message }));
      }
    });
    return form;
  }

  PW.route(/^\/pinsets$/, async function pinsets() {
    const f = filters();
    const body = await api("/v1/pinsets?" + apiQuery(f, {}, { version: null, verdict: null }));
    let sets = body.pinsets || [];
    if (f.version) sets = sets.filter((p) => p.version === f.version);
    return [
      el("h1", { text: "Pin sets" }),
      PW.filterForm(f, ["hostname", "app", "version", "window"]),
      section(
        "Pins per app version",
        sets.length === 0
          ? empty(
              "No pin set was reported in this window.",
              "Pin sets come from the known-pins of TrustKit and HPKP reports; widen the window or clear the filters.",
            )
          : el(
              "div",
              { class: "scroll-x" },
              el(
                "table",
                { id: "pinsets" },
                el(
                  "thead",
                  {},
                  el(
                    "tr",
                    {},
                    ["app", "version", "hostname", "pins", "seen", "pins expire", "health"].map((h) =>
                      el("th", { scope: "col", text: h }),
                    ),
                  ),
                ),
                el("tbody", {}, sets.map(pinsetRow)),
              ),
            ),
      ),
      section(
        "Rotation check",
        el("p", {
          class: "muted",
          text: "Paste the chain you plan to serve: every pin set seen in the last 30 days is checked against its keys.",
        }),
        rotationForm(f),
      ),
    ];
  });
})();
