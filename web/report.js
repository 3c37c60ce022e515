"use strict";
// Report page ("/reports/{id}"): the normalized report, its findings and problems, its chains,
// and the exact raw body.
(function () {
  const { el, api, section, empty, badge, time, link, versionLabel, download, withFilters } = PW;

  function facts(rows) {
    return el(
      "dl",
      { class: "facts" },
      rows
        .filter(Boolean)
        .flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v == null || v === "" ? "–" : v)]),
    );
  }
  const flag = (v) => (v == null ? "–" : v ? "yes" : "no");

  function chainTable(title, certs, id) {
    if (!certs || certs.length === 0) return null;
    return section(
      title,
      el(
        "div",
        { class: "scroll-x" },
        el(
          "table",
          { class: "certs", id: id },
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              ["#", "subject", "issuer", "valid until", "SPKI SHA-256"].map((h) =>
                el("th", { scope: "col", text: h }),
              ),
            ),
          ),
          el(
            "tbody",
            {},
            certs.map((c, i) =>
              el(
                "tr",
                {},
                el("td", { text: i === 0 ? "leaf" : String(i) }),
                el("td", { class: "subject", text: c.subject || c.raw || "(undecodable entry)" }),
                el("td", { text: c.issuer || "" }),
                el("td", {}, time(c.not_after)),
                el("td", {}, el("code", { class: "hash", text: c.spki_sha256 || "" })),
              ),
            ),
          ),
        ),
      ),
    );
  }

  PW.route(/^\/reports\/([^/]+)$/, async function report(id) {
    const r = await api("/v1/reports/" + encodeURIComponent(id));
    const app = r.app || {};
    const client = r.client || {};
    const f = r.findings || null;
    const problems = r.problems || [];
    const rawButton = el(
      "button",
      { type: "button", id: "raw", "data-href": "/v1/reports/" + encodeURIComponent(id) + "/raw" },
      "Download the raw body",
    );
    rawButton.addEventListener("click", () => {
      download(rawButton.dataset.href, "report-" + id + ".json").catch((e) => {
        rawButton.textContent = "Failed: " + e.message;
      });
    });
    return [
      el(
        "p",
        { class: "crumbs" },
        link(withFilters("/"), "Overview"),
        r.group ? [" / ", link(withFilters("/groups/" + encodeURIComponent(r.group)), "group")] : null,
        " / report",
      ),
      el("h1", {}, r.verdict ? badge(r.verdict) : null, " ", el("span", { text: "Report " + r.id })),
      facts([
        ["received", time(r.received_at)],
        ["format", r.format],
        [
          "hostname",
          r.hostname +
            (r.hostname_raw && r.hostname_raw !== r.hostname ? " (sent as " + r.hostname_raw + ")" : ""),
        ],
        ["noted hostname", r.noted_hostname],
        ["port", r.port],
        ["app", app.bundle_id],
        ["app version", versionLabel(app.version, app.bundle_id)],
        ["platform", [app.platform, app.platform_version].filter(Boolean).join(" ")],
        ["SDK", [app.sdk, app.sdk_version].filter(Boolean).join(" ")],
        ["device (vendor id)", app.vendor_id],
        [
          "network",
          [client.network, client.asn ? "AS" + client.asn : null, client.as_org, client.country]
            .filter(Boolean)
            .join(" · "),
        ],
        ["validation result", r.validation_result],
        ["enforce pinning", flag(r.enforce_pinning)],
        ["include subdomains", flag(r.include_subdomains)],
        ["device time", time(r.client_time)],
        ["pins expire", time(r.pins_expire)],
        [
          "known pins",
          (r.known_pins || []).length
            ? el(
                "ul",
                { class: "pins" },
                r.known_pins.map((p) => el("li", {}, el("code", { text: p }))),
              )
            : "none",
        ],
        ["raw body", el("span", {}, el("code", { class: "hash", text: r.raw_sha256 || "" }), " ", rawButton)],
      ]),
      section(
        "Findings",
        f == null
          ? empty("No findings: this report carries no certificate chain.")
          : el(
              "div",
              { id: "findings" },
              facts([
                ["chain", f.chain_sha256 ? el("code", { class: "hash", text: f.chain_sha256 }) : null],
                [
                  "anchor",
                  f.anchor ? (f.anchor.subject || "") + (f.anchor.public ? " (public)" : " (private)") : null,
                ],
                ["linked", flag(f.linked)],
                ["covers the hostname", flag(f.covers_hostname)],
                ["valid at report time", flag(f.valid_at_report_time)],
                ["a pin in the chain", flag(f.pin_in_chain)],
                ["expected key", flag(f.expected_key)],
                ["known-hostile root", flag(f.known_hostile)],
                ["catalog", f.catalog ? f.catalog.product + " (" + f.catalog.category + ")" : "no match"],
                ["weak crypto", (f.weak || []).join(", ") || "none"],
              ]),
            ),
      ),
      section(
        "Problems",
        problems.length === 0
          ? empty("No problem recorded: every field parsed.")
          : el(
              "ul",
              { id: "problems" },
              problems.map((p) =>
                el(
                  "li",
                  {},
                  typeof p === "string"
                    ? p
                    : [el("code", { text: p.code || "" }), " ", p.detail || p.field || ""],
                ),
              ),
            ),
      ),
      chainTable("Served chain", r.served_chain, "served"),
      chainTable("Validated chain", r.validated_chain, "validated"),
      el(
        "details",
        { class: "panel" },
        el("summary", { text: "Normalized report (JSON)" }),
        el("pre", { text: JSON.stringify(r, null, 2) }),
      ),
    ];
  });
})();
