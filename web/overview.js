"use strict";
// Overview ("/"): failures over time stacked by verdict, the window's figures, recent alerts
// (when the server has them), and the groups that need attention first.
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
  const RANK = { interception: 0, misconfiguration: 1, undetermined: 2 };

  // Interception and groups first seen in the window come first, then by verdict and size.
  function attentionOrder(groups, from) {
    const isNew = (g) => g.first_seen && g.first_seen >= from;
    const top = (g) => (g.verdict === "interception" || isNew(g) ? 0 : 1);
    return groups
      .slice()
      .sort(
        (a, b) =>
          top(a) - top(b) ||
          (RANK[a.verdict] ?? 3) - (RANK[b.verdict] ?? 3) ||
          b.reports - a.reports ||
          (a.id < b.id ? -1 : 1),
      );
  }

  function figure(label, value, id) {
    return el(
      "div",
      { class: "figure", id: id },
      el("span", { class: "figure-value", text: fmtInt(value) }),
      el("span", { class: "figure-label", text: label }),
    );
  }

  function groupCard(g, from) {
    const reason = g.reasons && g.reasons[0] ? g.reasons[0].detail : "no reason recorded";
    const isNew = g.first_seen && g.first_seen >= from;
    const versions = (g.versions || []).map((v) => versionLabel(v.version, g.app));
    return el(
      "li",
      { class: "group-card v-" + g.verdict, "data-group": g.id },
      el(
        "div",
        { class: "group-head" },
        badge(g.verdict),
        isNew ? el("span", { class: "tag-new", text: "new" }) : null,
        el("span", { class: "kind", text: kindText(g) || "no kind" }),
      ),
      el(
        "div",
        { class: "group-title" },
        link(withFilters("/groups/" + encodeURIComponent(g.id)), g.app + " → " + g.hostname),
      ),
      el("p", { class: "reason", text: reason }),
      el(
        "p",
        { class: "group-meta muted" },
        plural(g.reports, "report") +
          " · " +
          plural(g.devices, "device") +
          " · " +
          plural(g.networks, "network") +
          " · " +
          versions.slice(0, 4).join(", ") +
          (versions.length > 4 ? " …" : "") +
          " · last ",
        time(g.last_seen),
      ),
    );
  }

  // The first 50 cards, then the rest on demand (a wide window may hold hundreds of groups).
  function groupList(ordered, from) {
    const ul = el(
      "ul",
      { class: "groups", id: "groups" },
      ordered.slice(0, 50).map((g) => groupCard(g, from)),
    );
    if (ordered.length <= 50) return ul;
    const more = el("button", {
      type: "button",
      text: "Show the other " + (ordered.length - 50) + " groups",
    });
    more.addEventListener("click", () => {
      ul.append(...ordered.slice(50).map((g) => groupCard(g, from)));
      more.remove();
    });
    return el("div", {}, ul, more);
  }

  async function alertsPanel() {
    let body;
    try {
      body = await api("/v1/alerts?limit=10");
    } catch (e) {
      if (e instanceof PW.HttpError && e.status === 404) return null; // no alerting on this server
      return section(
        "Recent alerts",
        el("p", { class: "error", text: "Could not load alerts: " + e.message }),
      );
    }
    const alerts = (body && (body.alerts || body.items)) || [];
    const p = section(
      "Recent alerts",
      alerts.length === 0
        ? empty(
            "No alert has fired.",
            "Rules and webhook: GET/PUT /v1/alerts/rules; POST /v1/alerts/test sends a test delivery.",
          )
        : el(
            "ul",
            { class: "alerts" },
            alerts.slice(0, 10).map((a) => {
              const g = a.group || (a.subject && a.subject.group) || null;
              const text = a.summary || a.text || a.rule;
              const state = a.state || a.delivery_state || (a.delivery && a.delivery.state) || a.status;
              return el(
                "li",
                {},
                time(a.fired_at || a.created_at),
                " ",
                el("span", { class: "rule", text: a.rule || "" }),
                " ",
                g && g.id ? link(withFilters("/groups/" + encodeURIComponent(g.id)), text) : text,
                state ? el("span", { class: "muted", text: " (" + state + ")" }) : null,
              );
            }),
          ),
    );
    p.id = "alerts";
    return p;
  }

  PW.route(/^\/$/, async function overview() {
    const f = filters();
    const r = range(f);
    const [groups, trend, alerts] = await Promise.all([
      // The API pages groups by reports (100 by default): take its largest page; the figures
      // (totals) cover every group of the window either way.
      api("/v1/groups?" + apiQuery(f, { limit: 1000 }, { version: null })),
      api("/v1/trends?" + apiQuery(f, { bucket: r.bucket, by: "verdict" })),
      alertsPanel(),
    ]);
    let list = groups.groups || [];
    // /v1/groups has no version filter: keep the groups that saw that version.
    if (f.version) list = list.filter((g) => (g.versions || []).some((v) => v.version === f.version));
    let t = groups.totals || {};
    // The server's figures cover whole groups; for one version, add up that version's rows
    // (devices then count once per group).
    if (f.version) {
      const rows = list.flatMap((g) => (g.versions || []).filter((v) => v.version === f.version));
      t = {
        reports: rows.reduce((n, v) => n + v.reports, 0),
        devices: rows.reduce((n, v) => n + v.devices, 0),
        networks: null,
        new_groups: list.filter((g) => g.first_seen >= r.from).length,
      };
    }
    // Always stacked in the same order, interception at the bottom, whatever the counts.
    trend.series.sort((a, b) => PW.VERDICTS.indexOf(a.key) - PW.VERDICTS.indexOf(b.key));
    const chart =
      trend.series.length === 0
        ? empty(
            "No failure reports in this window.",
            "Point your apps' report URI at /v1/reports (or /report), widen the window, or load examples with make demo.",
          )
        : PW.stackedChart(trend, (k) => PW.COLORS[k], "Failure reports per " + r.bucket + " by verdict", r);
    chart.id = "trend";
    const ordered = attentionOrder(list, r.from);
    return [
      el("h1", { text: "Overview" }),
      PW.filterForm(f),
      // The evidence of what the filters select, over the same window.
      el("p", { class: "actions" }, PW.exportButton(apiQuery(f), "pinwatch-evidence.tar.gz")),
      el(
        "div",
        { class: "figures" },
        figure("reports", t.reports, "fig-reports"),
        figure("devices", t.devices, "fig-devices"),
        figure("networks", t.networks, "fig-networks"),
        figure("new groups", t.new_groups, "fig-new-groups"),
      ),
      section("Failures per " + r.bucket + " by verdict", chart),
      alerts,
      section(
        "Groups needing attention",
        ordered.length === 0
          ? empty(
              "No group has reports in this window.",
              "Widen the window or clear the filters; groups appear as soon as reports arrive.",
            )
          : groupList(ordered, r.from),
        groups.next_cursor
          ? el("p", { class: "muted", text: "The 1000 groups with most reports are listed; narrow the filters for the others." })
          : null,
      ),
    ];
  });
})();
