"use strict";
// Group page ("/groups/{id}"): verdict and every reason, the group's trend by app version, the
// app version x network heatmap, every distinct chain with its certificates, the latest
// reports, and the evidence export for this group.
(function () {
  const {
    el,
    api,
    apiQuery,
    filters,
    range,
    section,
    empty,
    badge,
    kindText,
    time,
    link,
    fmtInt,
    plural,
    withFilters,
    versionLabel,
  } = PW;

  function facts(rows) {
    return el(
      "dl",
      { class: "facts" },
      rows.filter(Boolean).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v == null ? "–" : v)]),
    );
  }

  // Rows: app versions; columns: the group's top networks; cell: reports, devices on hover.
  function heatmap(g) {
    const cells = g.heatmap || [];
    if (cells.length === 0)
      return empty("No reports in this window.", "Widen the window to see where this group fails.");
    const nets = new Map();
    for (const c of cells) {
      const n = nets.get(c.network) || { network: c.network, asn: c.asn, as_org: c.as_org, reports: 0 };
      n.reports += c.reports;
      nets.set(c.network, n);
    }
    const cols = [...nets.values()].sort((a, b) => b.reports - a.reports);
    // Newest version on top ("10.0" after "9.2"); no version (browsers) last.
    const versions = [...new Set(cells.map((c) => c.version))].sort((a, b) =>
      a == null ? 1 : b == null ? -1 : b.localeCompare(a, undefined, { numeric: true }),
    );
    const at = new Map(cells.map((c) => [c.version + "\u0000" + c.network, c]));
    const max = Math.max(...cells.map((c) => c.reports));
    const colLabel = (n) =>
      el(
        "th",
        { scope: "col", "data-network": n.network || "" },
        el("span", { text: n.network || "unknown network" }),
        n.asn ? el("span", { class: "asn", text: "AS" + n.asn + (n.as_org ? " " + n.as_org : "") }) : null,
      );
    const table = el(
      "table",
      { class: "heatmap", id: "heatmap" },
      el("caption", {
        text:
          "Reports per app version (rows) and client network (columns" +
          (g.networks > cols.length ? ", the " + cols.length + " with most reports of " + g.networks : "") +
          "); hover or focus a cell for devices.",
      }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "app version" }), cols.map(colLabel))),
      el(
        "tbody",
        {},
        versions.map((v) =>
          el(
            "tr",
            {},
            el("th", { scope: "row", text: versionLabel(v, g.app) }),
            cols.map((n) => {
              const c = at.get(v + "\u0000" + n.network);
              if (!c) return el("td", { class: "hm-0", "data-reports": "0", text: "" });
              const level = Math.min(5, Math.ceil((c.reports / max) * 5));
              return el("td", {
                class: "hm-" + level,
                "data-reports": c.reports,
                "data-devices": c.devices,
                "data-version": v == null ? "" : v,
                "data-network": n.network || "",
                title:
                  plural(c.reports, "report") +
                  ", " +
                  plural(c.devices, "device") +
                  " — " +
                  versionLabel(v, g.app) +
                  " on " +
                  (n.network || "unknown network"),
                tabindex: "0",
                text: fmtInt(c.reports),
              });
            }),
          ),
        ),
      ),
    );
    const spread =
      cols.length > 1 && versions.length <= 2
        ? "Many networks, few versions: points to our own configuration."
        : cols.length <= 2 && versions.length > 2
          ? "Few networks, every version: points to something on those networks."
          : null;
    return el("div", { class: "scroll-x" }, table, spread ? el("p", { class: "muted", text: spread }) : null);
  }

  function yesNo(v, good) {
    if (v == null) return el("span", { class: "muted", text: "unknown" });
    return el("span", { class: v === good ? "ok" : "bad", text: v ? "yes" : "no" });
  }

  function chainBlock(c, i) {
    const f = c.findings || {};
    const anchor = f.anchor || {};
    const match = f.known_hostile
      ? "known-hostile root"
      : f.catalog
        ? "catalog: " + f.catalog.product + " (" + String(f.catalog.category).replace(/_/g, " ") + ")"
        : "no catalog match";
    const now = Date.now();
    const certs = c.certificates || [];
    return el(
      "article",
      { class: "chain", "data-chain": c.sha256 },
      el(
        "h3",
        {},
        "Chain " + (i + 1) + " ",
        el("code", { class: "hash", title: c.sha256, text: c.sha256.slice(0, 16) + "…" }),
        el("span", { class: "muted", text: " " + plural(c.reports, "report") }),
      ),
      facts([
        ["any pin matched", yesNo(c.pin_matched, true)],
        [
          "anchor",
          (anchor.subject || "unknown") +
            (anchor.public ? " (public root)" : " (private, not in the trust store)"),
        ],
        ["linked", yesNo(f.linked, true)],
        ["match", el("span", { class: f.known_hostile || f.catalog ? "bad" : "", text: match })],
        f.weak && f.weak.length ? ["weak crypto", f.weak.join(", ")] : null,
      ]),
      certs.length === 0
        ? empty("No decodable certificate in this chain.")
        : el(
            "div",
            { class: "scroll-x" },
            el(
              "table",
              { class: "certs" },
              el(
                "thead",
                {},
                el(
                  "tr",
                  {},
                  ["#", "subject", "issuer", "validity", "pin (SPKI SHA-256)", "match"].map((h) =>
                    el("th", { scope: "col", text: h }),
                  ),
                ),
              ),
              el(
                "tbody",
                {},
                certs.map((x, k) => {
                  const expired = x.not_after && new Date(x.not_after).getTime() < now;
                  const isAnchor = anchor.spki_sha256 && x.spki_sha256 === anchor.spki_sha256;
                  return el(
                    "tr",
                    {},
                    el("td", { text: k === 0 ? "leaf" : String(k) }),
                    el("td", { class: "subject", text: x.subject }),
                    el("td", { text: x.issuer }),
                    el(
                      "td",
                      { class: expired ? "bad" : "" },
                      time(x.not_before, { hour: undefined, minute: undefined }),
                      " – ",
                      time(x.not_after, { hour: undefined, minute: undefined }),
                      expired ? " (expired)" : "",
                    ),
                    el("td", {}, el("code", { class: "pin", text: x.pin_sha256 || "" })),
                    el("td", {
                      text: isAnchor && (f.known_hostile || f.catalog) ? match : isAnchor ? "anchor" : "",
                    }),
                  );
                }),
              ),
            ),
          ),
    );
  }

  PW.route(/^\/groups\/([^/]+)$/, async function group(id) {
    const f = filters();
    const r = range(f);
    const q = (extra) => apiQuery(f, extra, { hostname: null, app: null, verdict: null, version: null });
    const [g, trend, reports] = await Promise.all([
      api("/v1/groups/" + encodeURIComponent(id) + "?" + q()),
      api("/v1/trends?" + q({ bucket: r.bucket, by: "app_version", group: id })),
      api("/v1/reports?" + q({ group: id, limit: 20 })),
    ]);
    const exportButton = PW.exportButton(
      apiQuery(f, { group: id }, { hostname: null, app: null, verdict: null }),
      "pinwatch-evidence-" + id + ".tar.gz",
    );
    const chains = g.chains || [];
    const list = reports.reports || [];
    for (const s of trend.series) s.key = versionLabel(s.key, g.app);
    return [
      el("p", { class: "crumbs" }, link(withFilters("/"), "Overview"), " / group"),
      el(
        "div",
        { class: "group-header v-" + g.verdict },
        el("h1", {}, badge(g.verdict), " ", el("span", { text: g.app + " → " + g.hostname })),
        el("p", { class: "kind", text: kindText(g) || "no kind: evidence is shown, no guess" }),
        exportButton,
      ),
      PW.filterForm(f, ["window"]),
      section(
        "Why",
        el(
          "ul",
          { class: "reasons", id: "reasons" },
          (g.reasons || []).map((x) =>
            el("li", { "data-code": x.code }, el("code", { text: x.code }), " ", x.detail),
          ),
        ),
      ),
      facts([
        [
          "anchor",
          g.anchor
            ? g.anchor.subject + (g.anchor.public ? " (public)" : " (private)")
            : "no chain (browser report)",
        ],
        ["expected key seen", g.expected_key_seen ? "yes" : "no"],
        ["reports", fmtInt(g.reports)],
        ["devices", fmtInt(g.devices)],
        ["networks", fmtInt(g.networks)],
        [
          "report-only",
          g.report_only
            ? plural(g.report_only.reports, "report") + ", " + plural(g.report_only.devices, "device")
            : "–",
        ],
        ["first seen", time(g.first_seen)],
        ["last seen", time(g.last_seen)],
        [
          "expected keys",
          link("/hosts/" + encodeURIComponent(g.hostname) + "/keys", "view or edit for " + g.hostname),
        ],
      ]),
      section(
        "Reports per " + r.bucket + " by app version",
        (() => {
          const c =
            trend.series.length === 0
              ? empty("No reports in this window.", "Widen the window.")
              : PW.stackedChart(trend, null, "Reports of this group per " + r.bucket + " by app version", r);
          c.id = "trend";
          return c;
        })(),
      ),
      section("App version × network", heatmap(g)),
      section(
        "Chains (" + chains.length + ")",
        chains.length === 0
          ? empty(
              "These reports carry no certificate chain.",
              "Browser (NEL) reports have none; their error type decides the verdict.",
            )
          : el("div", { id: "chains" }, chains.map(chainBlock)),
      ),
      section(
        "Latest reports",
        list.length === 0
          ? empty("No report of this group in the window.", "Widen the window.")
          : el(
              "div",
              { class: "scroll-x" },
              el(
                "table",
                { class: "reports", id: "latest" },
                el(
                  "thead",
                  {},
                  el(
                    "tr",
                    {},
                    ["received", "app version", "platform", "network", "report"].map((h) =>
                      el("th", { scope: "col", text: h }),
                    ),
                  ),
                ),
                el(
                  "tbody",
                  {},
                  list.map((x) =>
                    el(
                      "tr",
                      {},
                      el("td", {}, time(x.received_at)),
                      el("td", { text: versionLabel(x.app && x.app.version, x.app && x.app.bundle_id) }),
                      el("td", { text: (x.app && x.app.platform) || "–" }),
                      el("td", { text: (x.client && x.client.network) || "–" }),
                      el("td", {}, link("/reports/" + encodeURIComponent(x.id), x.id)),
                    ),
                  ),
                ),
              ),
            ),
      ),
    ];
  });
})();
