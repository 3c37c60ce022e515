"use strict";
// pinwatch dashboard: the shared part (token, API calls, routing, filters, DOM helpers).
// The page carries no report data: everything shown comes from the admin API with the bearer
// token, taken from the form or once from #token=..., kept in sessionStorage (this tab only)
// and removed from the address bar. Nothing is loaded from another host.
window.PW = (function () {
  const TOKEN_KEY = "pinwatch.token";
  const VERDICTS = ["interception", "misconfiguration", "undetermined"];
  const COLORS = { interception: "#c62828", misconfiguration: "#e08a00", undetermined: "#78909c" };
  const WINDOWS = { "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "90d": 90 * 86400 };
  const FILTERS = ["hostname", "app", "version", "verdict", "window"];

  // Script errors and CSP violations, for the end-to-end test to assert there are none.
  const errors = [];
  window.addEventListener("error", (e) => errors.push(String(e.message)));
  window.addEventListener("unhandledrejection", (e) => errors.push("unhandled: " + String(e.reason)));
  document.addEventListener("securitypolicyviolation", (e) =>
    errors.push("CSP " + e.violatedDirective + ": " + e.blockedURI),
  );

  // ---- token ----
  // Take a #token=... from the address bar (once), and remove it from there.
  function takeTokenFromHash() {
    const m = location.hash.match(/(?:^#|&)token=([^&]+)/);
    if (!m) return false;
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(history.state, "", location.pathname + location.search);
    return true;
  }
  takeTokenFromHash();
  const token = () => sessionStorage.getItem(TOKEN_KEY);

  class AuthError extends Error {}
  class HttpError extends Error {
    constructor(status, code, detail) {
      super(code + (detail ? ": " + detail : ""));
      this.status = status;
      this.code = code;
    }
  }

  // fetch with the bearer token; a 401 means the token is wrong or expired.
  async function request(path, opts) {
    const o = Object.assign({}, opts || {});
    o.headers = Object.assign({ Authorization: "Bearer " + token() }, o.headers || {});
    const r = await fetch(path, o);
    if (r.status === 401) throw new AuthError("token refused");
    return r;
  }
  async function api(path, opts) {
    const r = await request(path, opts);
    let body = null;
    try {
      body = await r.json();
    } catch (e) {
      body = null;
    }
    if (!r.ok) {
      throw new HttpError(r.status, (body && body.error) || "http_" + r.status, body && body.detail);
    }
    return body;
  }
  // An "Export evidence" button for /v1/export with query: a link (its href shows what it
  // exports) that downloads with the token when clicked.
  function exportButton(query, filename) {
    const href = "/v1/export?" + query;
    const button = el("a", { class: "button", id: "export", href: href, role: "button" }, "Export evidence");
    button.addEventListener("click", (e) => {
      e.preventDefault();
      button.textContent = "Exporting…";
      download(href, filename)
        .then(() => {
          button.textContent = "Export evidence";
        })
        .catch((err) => {
          button.textContent = "Export failed: " + err.message;
        });
    });
    return button;
  }
  // Download an authenticated resource as a file (a plain link cannot carry the token).
  async function download(path, filename) {
    let r;
    try {
      r = await request(path);
    } catch (e) {
      if (e instanceof AuthError) render(); // says the token was refused
      throw e;
    }
    if (!r.ok) throw new HttpError(r.status, "http_" + r.status, "download failed");
    const url = URL.createObjectURL(await r.blob());
    const a = el("a", { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---- DOM helpers: text goes through textContent, never markup ----
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = String(v);
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c == null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  const plural = (n, one, many) => n + " " + (n === 1 ? one : many || one + "s");
  const fmtInt = (n) => (n == null ? "–" : Number(n).toLocaleString());

  // A time in the viewer's zone, UTC on hover.
  function time(t, opts) {
    if (!t) return el("span", { class: "muted", text: "–" });
    const d = new Date(t);
    const local = d.toLocaleString(
      undefined,
      Object.assign(
        { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" },
        opts || {},
      ),
    );
    return el("time", {
      datetime: t,
      title: d.toISOString().replace(/\.\d+Z$/, "Z") + " (UTC)",
      text: local,
    });
  }

  function badge(verdict) {
    const v = VERDICTS.includes(verdict) ? verdict : "undetermined";
    const icon = v === "interception" ? "⚠ " : v === "misconfiguration" ? "⚙ " : "? ";
    return el("span", { class: "badge v-" + v, text: icon + v });
  }
  function kindText(g) {
    return [g.kind ? g.kind.replace(/_/g, " ") : null, g.product].filter(Boolean).join(" · ");
  }
  // Browser reports have no app version (SPEC 7: null); say so instead of a bare dash.
  function versionLabel(v, app) {
    if (v != null && v !== "") return v;
    return app === "web" ? "browser (no app version)" : "unknown version";
  }
  function empty(title, hint) {
    return el(
      "div",
      { class: "empty", role: "status" },
      el("p", { class: "empty-title", text: title }),
      hint ? el("p", { class: "muted", text: hint }) : null,
    );
  }
  function section(title, ...children) {
    return el("section", { class: "panel" }, el("h2", { text: title }), ...children);
  }
  function link(href, text, attrs) {
    return el("a", Object.assign({ href: href, "data-link": true }, attrs || {}), text);
  }

  // ---- filters (in the query string) ----
  function filters() {
    const q = new URLSearchParams(location.search);
    const f = {};
    for (const k of FILTERS) f[k] = (q.get(k) || "").trim();
    if (!WINDOWS[f.window]) f.window = "7d";
    return f;
  }
  function range(f) {
    const to = new Date();
    const from = new Date(to.getTime() - WINDOWS[f.window] * 1000);
    const iso = (d) => d.toISOString().replace(/\.\d+Z$/, "Z");
    return { from: iso(from), to: iso(to), bucket: WINDOWS[f.window] <= 2 * 86400 ? "hour" : "day" };
  }
  // API query for the filters; names maps a filter to its API parameter (or null to drop).
  function apiQuery(f, extra, names) {
    const r = range(f);
    const q = new URLSearchParams({ from: r.from, to: r.to });
    const map = Object.assign(
      { hostname: "hostname", app: "app", version: "app_version", verdict: "verdict" },
      names || {},
    );
    for (const [k, p] of Object.entries(map)) if (p && f[k]) q.set(p, f[k]);
    for (const [k, v] of Object.entries(extra || {})) if (v != null) q.set(k, v);
    return q.toString();
  }
  function filterForm(f, keys) {
    const form = el("form", { class: "filters", role: "search", "aria-label": "Filters" });
    const input = (k, label, ph) =>
      el("label", {}, label, el("input", { name: k, value: f[k], placeholder: ph, autocomplete: "off" }));
    const parts = {
      hostname: () => input("hostname", "Hostname", "all hosts"),
      app: () => input("app", "App", "all apps"),
      version: () => input("version", "App version", "all versions"),
      verdict: () =>
        el(
          "label",
          {},
          "Verdict",
          el(
            "select",
            { name: "verdict" },
            ["", ...VERDICTS].map((v) => el("option", { value: v, selected: f.verdict === v }, v || "any")),
          ),
        ),
      window: () =>
        el(
          "label",
          {},
          "Window",
          el(
            "select",
            { name: "window" },
            Object.keys(WINDOWS).map((w) =>
              el("option", { value: w, selected: f.window === w }, "last " + w),
            ),
          ),
        ),
    };
    for (const k of keys || FILTERS) form.append(parts[k]());
    form.append(el("button", { type: "submit", text: "Apply" }));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const q = new URLSearchParams(new URLSearchParams(location.search));
      for (const [k, v] of new FormData(form)) {
        if (v && !(k === "window" && v === "7d")) q.set(k, v);
        else q.delete(k);
      }
      navigate(location.pathname + (q.toString() ? "?" + q : ""));
    });
    return form;
  }
  // Links keep the current filters.
  function withFilters(path) {
    const q = new URLSearchParams();
    const f = filters();
    for (const k of FILTERS) if (f[k] && !(k === "window" && f[k] === "7d")) q.set(k, f[k]);
    return path + (q.toString() ? "?" + q : "");
  }

  // ---- charts (Chart.js from Debian's libjs-chart.js) ----
  // Hours in the viewer's zone; days are UTC days (the rollups' grain), so labelled as such.
  function bucketLabel(t, bucket) {
    const d = new Date(t);
    return bucket === "hour"
      ? d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })
      : d.toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
  }
  function bucketTitle(t, bucket) {
    const d = new Date(t);
    return bucket === "hour"
      ? d.toLocaleString() + " (" + d.toISOString().slice(11, 16) + " UTC)"
      : d.toISOString().slice(0, 10) + " (UTC day)";
  }
  // A stacked bar chart of series [{key, points:[{t, reports, devices}]}]; returns the box.
  // Every bucket of the window, so that quiet hours or days show as gaps (the API lists only
  // buckets with reports); times as the API writes them (UTC, no fraction).
  function bucketsOf(win, bucket) {
    const step = bucket === "hour" ? 3600000 : 86400000;
    const out = [];
    for (let t = Math.floor(Date.parse(win.from) / step) * step; t <= Date.parse(win.to); t += step)
      out.push(new Date(t).toISOString().replace(/\.\d+Z$/, "Z"));
    return out;
  }
  // A stacked bar chart of series [{key, points:[{t, reports, devices}]}] over the window win
  // ({from, to}); returns its box.
  function stackedChart(trend, colorOf, label, win) {
    const seen = trend.series.flatMap((s) => s.points.map((p) => p.t));
    const times = [...new Set(seen.concat(win ? bucketsOf(win, trend.bucket) : []))].sort();
    const canvas = el("canvas", { role: "img", "aria-label": label });
    const box = el("div", { class: "chart" }, canvas);
    const palette = ["#3f51b5", "#009688", "#8e24aa", "#6d4c41", "#546e7a", "#f4511e", "#7cb342", "#00acc1"];
    const datasets = trend.series.map((s, i) => {
      const by = new Map(s.points.map((p) => [p.t, p.reports]));
      return {
        label: s.key == null ? "(none)" : String(s.key),
        data: times.map((t) => by.get(t) || 0),
        backgroundColor: (colorOf && colorOf(s.key)) || palette[i % palette.length],
        maxBarThickness: 56,
      };
    });
    // Chart.js needs the canvas in the document to size it.
    requestAnimationFrame(() => {
      const chart = new Chart(canvas, {
        type: "bar",
        data: { labels: times.map((t) => bucketLabel(t, trend.bucket)), datasets },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
          plugins: {
            tooltip: {
              callbacks: { title: (items) => bucketTitle(times[items[0].dataIndex], trend.bucket) },
            },
          },
        },
      });
      canvas.dataset.ready = "1";
      box.chart = chart;
    });
    const legend = el(
      "ul",
      { class: "series-totals", "aria-label": "Totals per series" },
      datasets.map((d) =>
        el(
          "li",
          { "data-series": d.label },
          el("span", { class: "swatch", "data-color": d.backgroundColor }),
          d.label + ": ",
          el("strong", { text: fmtInt(d.data.reduce((a, b) => a + b, 0)) }),
        ),
      ),
    );
    for (const s of legend.querySelectorAll(".swatch")) s.style.background = s.dataset.color;
    box.append(legend);
    return box;
  }

  // ---- routing on location.pathname ----
  const routes = [];
  function route(re, render) {
    routes.push({ re, render });
  }
  // A link followed inside the page: new address, new view, focus at the top of the content
  // (where a keyboard or screen-reader user expects to continue).
  function navigate(href) {
    history.pushState(null, "", href);
    window.scrollTo(0, 0);
    render().then(() => document.getElementById("main").focus({ preventScroll: true }));
  }
  let generation = 0;
  async function render() {
    const view = document.getElementById("view");
    const login = document.getElementById("login");
    const gen = ++generation;
    delete document.body.dataset.loaded;
    delete document.body.dataset.page;
    document.getElementById("logout").hidden = !token();
    if (!token()) {
      showLogin(null);
      return;
    }
    login.hidden = true;
    view.hidden = false;
    for (const a of document.querySelectorAll("nav a")) {
      const here = a.getAttribute("href") === location.pathname;
      if (here) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const r = routes.find((x) => x.re.test(location.pathname));
    const main = el(
      "div",
      { class: "page", "aria-busy": "true" },
      el("p", { class: "muted", text: "Loading…" }),
    );
    view.replaceChildren(main);
    try {
      const args = r ? location.pathname.match(r.re).slice(1).map(decodeURIComponent) : [];
      const content = r ? await r.render(...args) : [empty("No such page.", "Go back to the overview.")];
      if (gen !== generation) return;
      main.replaceChildren(...[].concat(content).filter((x) => x != null));
      main.removeAttribute("aria-busy");
      document.body.dataset.page = r ? r.re.source : "none";
      document.body.dataset.loaded = String(gen);
    } catch (e) {
      if (gen !== generation) return;
      if (e instanceof AuthError) {
        sessionStorage.removeItem(TOKEN_KEY);
        showLogin(
          "The admin token was refused: it is wrong or no longer valid. Enter the current one (make run keeps it in var/admin-token).",
        );
        return;
      }
      if (e instanceof HttpError && e.status === 404) {
        main.replaceChildren(
          empty(
            "Not found: " + e.message,
            "A group id changes when its reports are re-grouped, and retention drops old reports. Go back to the overview.",
          ),
          el("p", {}, link(withFilters("/"), "Overview")),
        );
        main.removeAttribute("aria-busy");
        document.body.dataset.page = "not-found";
        document.body.dataset.loaded = String(gen);
        return;
      }
      main.replaceChildren(
        el(
          "div",
          { class: "error", role: "alert" },
          el("p", { text: "Could not load this page: " + e.message }),
          el("p", { class: "muted", text: "Check that the server and its database are up, then reload." }),
        ),
      );
      main.removeAttribute("aria-busy");
      document.body.dataset.loaded = String(gen);
    }
  }
  function showLogin(message) {
    document.getElementById("view").hidden = true;
    document.getElementById("logout").hidden = true;
    const login = document.getElementById("login");
    login.hidden = false;
    const msg = document.getElementById("login-msg");
    msg.textContent = message || "";
    msg.hidden = !message;
    document.body.dataset.page = "login";
    document.getElementById("token-input").focus();
  }

  function start() {
    document.getElementById("token-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const input = document.getElementById("token-input");
      if (!input.value.trim()) return;
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      input.value = "";
      render();
    });
    document.getElementById("logout").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin("Token forgotten in this tab.");
    });
    document.addEventListener("click", (e) => {
      const a = e.target.closest("a[data-link]");
      if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      navigate(a.getAttribute("href"));
    });
    window.addEventListener("popstate", render);
    // A #token=... link opened in a tab that already shows the page.
    window.addEventListener("hashchange", () => {
      if (takeTokenFromHash()) render();
    });
    render();
  }

  return {
    VERDICTS,
    COLORS,
    api,
    request,
    download,
    exportButton,
    el,
    plural,
    fmtInt,
    time,
    badge,
    kindText,
    versionLabel,
    empty,
    section,
    link,
    filters,
    range,
    apiQuery,
    filterForm,
    withFilters,
    stackedChart,
    route,
    navigate,
    render,
    start,
    HttpError,
    AuthError,
    errors,
  };
})();
