#!/usr/bin/env python3
"""The dashboard in a real browser: Debian's headless Chromium driven through chromedriver's
WebDriver HTTP API (python3's urllib only), against a pinwatch server that
tests/integration/test_dashboard.c started and seeded. Every page is loaded and what it shows
is compared with what the admin API answers; a screenshot of each page is kept.

Exit 0 when every check passed; 1 on the first failed check (printed); 2 when Chromium or
chromedriver is missing (a failure too: nothing is skipped).

Set PINWATCH_E2E_HOLD=<seconds> to keep the seeded server up for a look by hand first.
"""
import argparse
import base64
import gzip
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

CHECKS = []
VIEWER_TZ = "Asia/Kolkata"


def check(cond, what):
    CHECKS.append(what)
    if not cond:
        raise AssertionError(what)
    print("ok   " + what, flush=True)


def eq(got, want, what):
    check(got == want, "%s: got %r, want %r" % (what, got, want) if got != want else what)


class Api:
    def __init__(self, port, token):
        self.base = "http://127.0.0.1:%d" % port
        self.token = token

    def raw(self, method, path, body=None, headers=None, token=True):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + self.token
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def get(self, path):
        st, _, body = self.raw("GET", path)
        if st != 200:
            raise AssertionError("GET %s answered %d: %s" % (path, st, body[:200]))
        return json.loads(body)


class Browser:
    """The few WebDriver commands the test needs."""

    def __init__(self, work):
        for exe in ("chromium", "chromedriver"):
            if shutil.which(exe) is None:
                print("FAIL %s is not installed (apt-get install chromium chromium-driver)" % exe)
                sys.exit(2)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.log = open(os.path.join(work, "chromedriver.log"), "w")
        # A zone far from UTC, with a half hour, so that local times cannot pass for UTC.
        env = dict(os.environ, TZ=VIEWER_TZ)
        self.proc = subprocess.Popen(["chromedriver", "--port=%d" % self.port], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.url = "http://127.0.0.1:%d" % self.port
        for _ in range(100):
            try:
                self._call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        profile = tempfile.mkdtemp(prefix="profile-", dir=work)
        self.downloads = tempfile.mkdtemp(prefix="downloads-", dir=work)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": shutil.which("chromium"),
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--lang=en-US",
                         "--user-data-dir=" + profile, "--window-size=1280,900"],
                "prefs": {"download.default_directory": self.downloads,
                          "download.prompt_for_download": False}}}}}
        self.sid = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise AssertionError("webdriver %s %s: %s" % (method, path, e.read()[:500]))

    def cmd(self, method, path, body=None):
        return self._call(method, "/session/%s%s" % (self.sid, path), body)

    def go(self, url):
        self.cmd("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait(self, script, what, timeout=45):
        end = time.time() + timeout
        while time.time() < end:
            v = self.js(script)
            if v:
                return v
            time.sleep(0.1)
        text = self.js("return document.body.innerText.slice(0, 600)")
        raise AssertionError("timed out waiting for %s; the page shows: %r" % (what, text))

    def wait_page(self, page):
        """Until the router has rendered `page` (its route's regex source) and charts drew."""
        self.wait("const d = document.body.dataset; return d.page === %s && (d.loaded || d.page === 'login')"
                  " ? true : null" % json.dumps(page), "page " + page)
        self.wait("return [...document.querySelectorAll('canvas')].every(c => c.dataset.ready) || null",
                  "charts")

    def size(self, width, height):
        """The viewport, exactly (a headless window has a minimum width of its own)."""
        self.width = width
        self.cmd("POST", "/goog/cdp/execute", {"cmd": "Emulation.setDeviceMetricsOverride", "params": {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}})

    def shot(self, path, full=True):
        if full:
            h = self.js("return Math.max(document.documentElement.scrollHeight, 600)")
            self.size(getattr(self, "width", 1280), min(int(h), 6000))
            time.sleep(0.3)
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        print("shot " + path, flush=True)

    def key(self, keys):
        actions = []
        for k in keys:
            actions += [{"type": "keyDown", "value": k}, {"type": "keyUp", "value": k}]
        self.cmd("POST", "/actions", {"actions": [{"type": "key", "id": "kb", "actions": actions}]})

    def quit(self):
        try:
            self.cmd("DELETE", "")
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def window_query():
    """The 7-day window the page uses, as the API's from/to (same second)."""
    to = time.time()
    fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    return "from=%s&to=%s" % (fmt(to - 7 * 86400), fmt(to))


def series_totals(trend):
    return {("(none)" if s["key"] is None else s["key"]): sum(p["reports"] for p in s["points"])
            for s in trend["series"]}


def test_server_answers(api):
    # Every dashboard route answers the same page; HEAD is not allowed (issue 23).
    pages = ["/", "/groups/x", "/reports/x", "/pinsets", "/hosts/api.example.com/keys"]
    bodies = set()
    for p in pages:
        st, h, body = api.raw("GET", p, token=False, headers={"Accept-Encoding": "gzip"})
        eq(st, 200, "GET %s answers 200" % p)
        eq(h.get("Content-Encoding"), "gzip", "GET %s is gzip-encoded" % p)
        eq(h.get("Content-Type"), "text/html; charset=utf-8", "GET %s is HTML" % p)
        check("script-src 'self'" in h.get("Content-Security-Policy", ""), "%s carries its CSP" % p)
        bodies.add(gzip.decompress(body))
        c = http.client.HTTPConnection("127.0.0.1", int(api.base.rsplit(":", 1)[1]), timeout=10)
        c.request("HEAD", p)
        r = c.getresponse()
        r.read()
        eq(r.status, 405, "HEAD %s answers 405" % p)
        c.close()
    eq(len(bodies), 1, "every dashboard route answers the same page")
    page = bodies.pop().decode()
    # Assets: named with their hash, cached for good, revalidated by ETag.
    import re
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page)
    check(any("chart.min.js?v=" in a for a in assets), "Chart.js is served from the binary")
    total = 0
    for a in assets:
        st, h, body = api.raw("GET", a, token=False, headers={"Accept-Encoding": "gzip"})
        eq(st, 200, "GET %s" % a)
        eq(h.get("Content-Encoding"), "gzip", "%s is gzip-encoded" % a)
        check("immutable" in h.get("Cache-Control", ""), "%s is cached for good" % a)
        total += len(body)
        st2, _, _ = api.raw("GET", a, token=False, headers={"If-None-Match": h["ETag"]})
        eq(st2, 304, "%s revalidates to 304" % a)
        check(h["ETag"].startswith('W/"'), "%s has a weak ETag (shared by both encodings)" % a)
        ct = h.get("Content-Type")
        check(ct.startswith("text/javascript") if a.split("?")[0].endswith(".js")
              else ct.startswith("text/css"), "%s has content type %s" % (a, ct))
    for accept, want in (("gzip;q=0", None), ("identity", None), ("deflate, gzip", "gzip"),
                         ("GZIP;q=0.5", "gzip"), (None, None)):
        st, h, body = api.raw("GET", "/", token=False, headers={"Accept-Encoding": accept} if accept else {})
        eq(h.get("Content-Encoding"), want, "Accept-Encoding %r gets Content-Encoding %r" % (accept, want))
        check(want == "gzip" or body.startswith(b"<!doctype html>"), "a client without gzip gets the plain page")
    st, _, _ = api.raw("GET", "/assets/nothing.js", token=False)
    eq(st, 404, "an unknown asset is 404")
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--screenshots", required=True)
    ap.add_argument("--candidate-pem", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    os.makedirs(a.screenshots, exist_ok=True)
    api = Api(a.port, a.token)
    base = api.base
    hold = int(os.environ.get("PINWATCH_E2E_HOLD", "0") or 0)
    if hold:
        print("holding %ds: %s/#token=%s" % (hold, base, a.token), flush=True)
        time.sleep(hold)

    assets_bytes = test_server_answers(api)
    b = Browser(a.work)
    try:
        b.size(1280, 900)
        run(b, api, base, a, assets_bytes)
    finally:
        b.quit()
    print("%d passed, 0 failed" % len(CHECKS))


def run(b, api, base, a, assets_bytes):
    shots = a.screenshots
    # A wrong token says so.
    b.go(base + "/#token=not-the-token")
    b.wait_page("login")
    msg = b.js("return document.getElementById('login-msg').textContent")
    check("refused" in msg, "a wrong token is reported as refused (%r)" % msg)
    eq(b.js("return location.hash"), "", "the token is removed from the address bar")
    b.shot(os.path.join(shots, "0-wrong-token.png"), full=False)

    # The token typed into the form (Enter submits), kept in sessionStorage.
    field = b.cmd("POST", "/element", {"using": "css selector", "value": "#token-input"})
    eid = list(field.values())[0]
    b.cmd("POST", "/element/%s/value" % eid, {"text": a.token + "\ue007"})
    b.wait_page("^\\/$")
    eq(b.js("return sessionStorage.getItem('pinwatch.token')"), a.token, "the token is in sessionStorage")
    eq(b.js("return PW.errors"), [], "no script error or CSP violation")

    # ---- overview ----
    q = window_query()
    groups = api.get("/v1/groups?" + q)
    trend = api.get("/v1/trends?bucket=day&by=verdict&" + q)
    want = series_totals(trend)
    # 30 Fortinet reports, and the 3 browser reports refusing an authority on one network (NEL
    # groups get verdicts from their tls.* type and spread since issue 17)
    check(want.get("interception") == 33 and want.get("misconfiguration") == 12,
          "the API counts the seeded population (%r)" % want)
    shown = b.js("return Object.fromEntries([...document.querySelectorAll('#trend .series-totals li')]"
                 ".map(li => [li.dataset.series, Number(li.querySelector('strong').textContent.replace(/\\D/g, ''))]))")
    eq(shown, want, "overview chart legend totals per verdict")
    chart = b.js("const c = Chart.getChart(document.querySelector('#trend canvas'));"
                 "return Object.fromEntries(c.data.datasets.map(d => [d.label, d.data.reduce((x, y) => x + y, 0)]))")
    eq(chart, want, "overview chart series totals per verdict")
    labels = b.js("return Chart.getChart(document.querySelector('#trend canvas')).data.labels.length")
    check(labels in (7, 8), "the chart shows every day of the window, quiet ones too (%d)" % labels)
    t = groups["totals"]
    for k, id in (("reports", "fig-reports"), ("devices", "fig-devices"), ("networks", "fig-networks"),
                  ("new_groups", "fig-new-groups")):
        v = b.js("return Number(document.querySelector('#%s .figure-value').textContent.replace(/\\D/g, ''))" % id)
        eq(v, t[k], "overview figure %s" % k)
    eq(t["reports"], 45, "totals: 12 + 30 + 3 reports")
    href = b.js("return document.getElementById('export').getAttribute('href')")
    pq = urllib.parse.parse_qs(urllib.parse.urlparse(href).query)
    check(href.startswith("/v1/export?") and "from" in pq and "to" in pq and "group" not in pq,
          "the overview's export link is /v1/export with the window (%s)" % href)
    st, h, body = api.raw("GET", href)
    check(st == 200 and body[:2] == b"\x1f\x8b", "the overview's export link downloads a bundle")
    cards = b.js("return [...document.querySelectorAll('#groups .group-card')].map(c => ({id: c.dataset.group,"
                 " verdict: c.querySelector('.badge').textContent, reason: c.querySelector('.reason').textContent,"
                 " weight: getComputedStyle(c.querySelector('.reason')).fontWeight, meta: c.querySelector('.group-meta').textContent}))")
    eq(sorted(c["id"] for c in cards), sorted(g["id"] for g in groups["groups"]), "overview lists every group")
    check("interception" in cards[0]["verdict"], "interception comes first (%s)" % cards[0]["verdict"])
    by_id = {g["id"]: g for g in groups["groups"]}
    for c in cards:
        g = by_id[c["id"]]
        eq(c["reason"], g["reasons"][0]["detail"], "group %s shows its first reason" % g["id"])
        eq(c["weight"], "400", "reasons are not bold (issue 23)")
    web = [c for c in cards if by_id[c["id"]]["app"] == "web"]
    eq(len(web), 1, "the browser group is listed")
    check("browser (no app version)" in web[0]["meta"] and " - " not in web[0]["meta"],
          "a browser group's version reads 'browser (no app version)' (%r)" % web[0]["meta"])
    alerts_status = api.raw("GET", "/v1/alerts?limit=10")[0]
    has_alerts = b.js("return !!document.getElementById('alerts')")
    eq(has_alerts, alerts_status == 200, "Recent alerts shown exactly when /v1/alerts answers 200 (%d)" % alerts_status)
    transferred = b.js("return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
                       ".filter(e => !e.name.includes('/v1/')).reduce((n, e) => n + (e.transferSize || e.encodedBodySize), 0)")
    check(0 < transferred < 300000, "overview and its assets transfer %d bytes (< 300 KB)" % transferred)
    check(assets_bytes < 300000, "assets gzip-compressed: %d bytes" % assets_bytes)
    b.shot(os.path.join(shots, "1-overview.png"))
    b.size(1280, 900)

    # ---- group pages: interception and misconfiguration ----
    forti = next(g for g in groups["groups"] if g["verdict"] == "interception" and g["app"] != "web")
    stale = next(g for g in groups["groups"] if g["verdict"] == "misconfiguration")
    # By keyboard: focus the interception group's link and press Enter.
    b.js("document.querySelector('[data-group=\"%s\"] a').focus()" % forti["id"])
    b.key(["\ue007"])
    b.wait_page("^\\/groups\\/([^/]+)$")
    eq(b.js("return location.pathname"), "/groups/" + forti["id"], "Enter on a group link opens its page")
    for g, name in ((forti, "2-group-interception.png"), (stale, "3-group-misconfiguration.png")):
        if b.js("return location.pathname") != "/groups/" + g["id"]:
            b.go(base + "/groups/" + g["id"])
            b.wait_page("^\\/groups\\/([^/]+)$")
        detail = api.get("/v1/groups/%s?%s" % (g["id"], q))
        reasons = b.js("return [...document.querySelectorAll('#reasons li')].map(li => [li.dataset.code, li.textContent])")
        eq([r[0] for r in reasons], [r["code"] for r in detail["reasons"]], "group %s reason codes" % g["id"])
        for (code, text), r in zip(reasons, detail["reasons"]):
            check(r["detail"] in text, "reason %s shown in full" % code)
        cells = b.js("return [...document.querySelectorAll('#heatmap td[data-version]')].map(td => ({version: td.dataset.version,"
                     " network: td.dataset.network, reports: Number(td.dataset.reports), devices: Number(td.dataset.devices),"
                     " title: td.title}))")
        want_cells = sorted(((c["version"] or "", c["network"] or "", c["reports"], c["devices"]) for c in detail["heatmap"]))
        eq(sorted((c["version"], c["network"], c["reports"], c["devices"]) for c in cells), want_cells,
           "group %s heatmap cells" % g["id"])
        if detail["networks"] <= 10:
            eq(sum(c[2] for c in want_cells), detail["reports"], "heatmap cells add up to the group's reports")
        else:
            eq(len({c[1] for c in want_cells}), 10, "the heatmap keeps the 10 top networks")
        check(all(("%d device" % c["devices"]) in c["title"] for c in cells), "heatmap tooltips give devices")
        subjects = b.js("return [...document.querySelectorAll('#chains .chain')].map(c => [...c.querySelectorAll('td.subject')].map(td => td.textContent))")
        eq(subjects, [[x["subject"] for x in c["certificates"]] for c in detail["chains"]],
           "group %s certificate subjects" % g["id"])
        gtrend = api.get("/v1/trends?%s&bucket=day&by=app_version&group=%s" % (q, g["id"]))
        shown = b.js("return [...document.querySelectorAll('#trend .series-totals li strong')].reduce((n, s) => n + Number(s.textContent.replace(/\\D/g, '')), 0)")
        eq(shown, sum(series_totals(gtrend).values()), "group %s trend total" % g["id"])
        href = b.js("return document.getElementById('export').getAttribute('href')")
        pq = urllib.parse.parse_qs(urllib.parse.urlparse(href).query)
        check(href.startswith("/v1/export?") and pq.get("group") == [g["id"]] and "from" in pq,
              "the export link is /v1/export for this group with the window (%s)" % href)
        st, h, body = api.raw("GET", href)
        check(st == 200 and h.get("Content-Type", "").startswith("application/gzip") and body[:2] == b"\x1f\x8b",
              "the export link downloads an evidence bundle")
        b.shot(os.path.join(shots, name))
        b.size(1280, 900)
    # The button downloads the bundle with the token (a plain link could not carry it).
    b.js("document.getElementById('export').click()")
    want_file = os.path.join(b.downloads, "pinwatch-evidence-%s.tar.gz" % stale["id"])
    end = time.time() + 30
    while time.time() < end and not (os.path.exists(want_file) and os.path.getsize(want_file) > 0):
        time.sleep(0.2)
    check(os.path.exists(want_file) and open(want_file, "rb").read(2) == b"\x1f\x8b",
          "Export evidence downloads the group's bundle")
    pin = b.js("return [...document.querySelectorAll('#chains dd')].map(d => d.textContent)")
    check("no" in pin, "the stale-pins chain says no pin matched")
    check(detail["chains"][0]["pin_matched"] is False, "the API agrees: no pin matched")
    forti_detail = api.get("/v1/groups/%s?%s" % (forti["id"], q))
    eq(len({c["network"] for c in forti_detail["heatmap"]}), 2, "interception heatmap: 2 networks")
    eq(len({c["version"] for c in forti_detail["heatmap"]}), 5, "interception heatmap: 5 versions")
    eq(forti_detail["heatmap"][0].get("asn") in (64500, 64501), True, "heatmap columns carry their ASN")

    # ---- the browser group: no chain, no app version ----
    web = next(g for g in groups["groups"] if g["app"] == "web")
    b.go(base + "/groups/" + web["id"])
    b.wait_page("^\\/groups\\/([^/]+)$")
    rows = b.js("return [...document.querySelectorAll('#heatmap tbody th')].map(th => th.textContent)")
    eq(rows, ["browser (no app version)"], "the browser group's heatmap row names no version")
    check("no certificate chain" in b.js("return document.body.innerText"), "the browser group says it has no chain")
    b.go(base + "/groups/" + stale["id"])
    b.wait_page("^\\/groups\\/([^/]+)$")

    # ---- report page, from the group's latest reports ----
    reports = api.get("/v1/reports?group=%s&limit=20&%s" % (stale["id"], q))["reports"]
    rid = b.js("return document.querySelector('#latest a').textContent")
    check(rid in [r["id"] for r in reports], "latest reports link to this group's reports")
    b.js("document.querySelector('#latest a').click()")
    b.wait_page("^\\/reports\\/([^/]+)$")
    rep = api.get("/v1/reports/" + rid)
    check(rid in b.js("return document.querySelector('#view h1').textContent"), "the report page names the report")
    eq(b.js("return [...document.querySelectorAll('#served td.subject')].map(td => td.textContent)"),
       [c["subject"] for c in rep["served_chain"]], "report served-chain subjects")
    eq(b.js("return document.getElementById('raw').dataset.href"), "/v1/reports/%s/raw" % rid, "raw body link")
    b.js("document.getElementById('raw').click()")
    raw_file = os.path.join(b.downloads, "report-%s.json" % rid)
    end = time.time() + 30
    while time.time() < end and not (os.path.exists(raw_file) and os.path.getsize(raw_file) > 0):
        time.sleep(0.2)
    st, _, raw = api.raw("GET", "/v1/reports/%s/raw" % rid)
    check(st == 200 and os.path.exists(raw_file) and open(raw_file, "rb").read() == raw,
          "the raw body downloads byte for byte")
    # Times in the viewer's zone, UTC on hover.
    zone = b.js("return Intl.DateTimeFormat().resolvedOptions().timeZone")
    check(zone in (VIEWER_TZ, "Asia/Calcutta"), "the browser runs in %s (%s)" % (VIEWER_TZ, zone))
    shown_t = b.js("const t = document.querySelector('dl.facts time'); return [t.textContent, t.title, t.getAttribute('datetime')]")
    import datetime
    import zoneinfo
    at = datetime.datetime.fromisoformat(rep["received_at"].replace("Z", "+00:00"))
    local = at.astimezone(zoneinfo.ZoneInfo(VIEWER_TZ))
    check(shown_t[2] == rep["received_at"] and shown_t[1].startswith(at.strftime("%Y-%m-%dT%H:%M:%S")) and "UTC" in shown_t[1],
          "the time's tooltip is UTC (%r)" % shown_t[1])
    hour12 = local.strftime("%I:%M").lstrip("0")
    check(hour12 in shown_t[0] and local.strftime("%b") in shown_t[0],
          "the time reads in the viewer's zone (%r for %s)" % (shown_t[0], local.isoformat()))
    problems = b.js("return [...document.querySelectorAll('#problems li')].length")
    eq(problems, len(rep.get("problems") or []), "report problems listed")
    check(b.js("return document.getElementById('findings').textContent").find(rep["findings"]["anchor"]["subject"]) >= 0,
          "report findings name the anchor")
    b.shot(os.path.join(shots, "4-report.png"))
    b.size(1280, 900)

    # ---- pin sets and the rotation check ----
    b.go(base + "/pinsets")
    b.wait_page("^\\/pinsets$")
    sets = api.get("/v1/pinsets?" + q)["pinsets"]
    rows = b.js("return [...document.querySelectorAll('#pinsets tbody tr')].map(tr => ({app: tr.dataset.app, version: tr.dataset.version,"
                " codes: [...tr.querySelectorAll('[data-code]')].map(x => x.dataset.code)}))")
    eq(sorted((r["app"], r["version"], tuple(r["codes"])) for r in rows),
       sorted((s["app"], s["version"] or "", tuple(f["code"] for f in s["findings"])) for s in sets),
       "pin sets and their health findings")
    check(any(s["findings"] for s in sets), "some pin set has a health finding")
    pem = open(a.candidate_pem).read()
    b.js("document.getElementById('rc-host').value = 'api.example.com';"
         "document.getElementById('rc-pem').value = arguments[0];"
         "document.querySelector('#rotation button').click()", pem)
    b.wait("return document.getElementById('rc-summary') ? true : null", "rotation result")
    st, _, body = api.raw("POST", "/v1/hosts/api.example.com/rotation-check", pem.encode())
    rc = json.loads(body)
    summary = b.js("return document.getElementById('rc-summary').textContent")
    check(rc["breaking"] > 0 and ("break %d pin set" % rc["breaking"]) in summary,
          "the rotation check says which versions break (%r)" % summary)
    breaks = b.js("return [...document.querySelectorAll('#rc-result tr[data-breaks=\"true\"]')].length")
    eq(breaks, rc["breaking"], "rotation check rows that break")
    b.shot(os.path.join(shots, "5-pinsets.png"))
    b.size(1280, 900)

    # ---- expected keys: view, and an edit refused without change ----
    b.go(base + "/hosts/api.example.com/keys")
    b.wait_page("^\\/hosts\\/([^/]+)\\/keys$")
    keys = api.get("/v1/hosts/api.example.com/keys")["keys"]
    eq(b.js("return [...document.querySelectorAll('#keys .pin-input')].map(i => i.value)"),
       [k["pin"] for k in keys], "expected keys shown")
    b.js("[...document.querySelectorAll('#keys button')].find(x => x.textContent === 'Add a key').click();"
         "const ins = document.querySelectorAll('#keys .pin-input'); ins[ins.length - 1].value = 'not-base64';"
         "document.querySelector('#keys button[type=submit]').click()")
    b.wait("return document.getElementById('keys-msg').className === 'error' || null", "refused edit")
    eq(api.get("/v1/hosts/api.example.com/keys")["keys"], keys, "a refused edit changes nothing")
    b.js("const rows = document.querySelectorAll('#keys .key-row'); rows[rows.length - 1].querySelector('button').click();"
         "document.querySelector('#keys .key-row select').value = 'current';"
         "document.querySelector('#keys button[type=submit]').click()")
    b.wait("return document.getElementById('keys-msg').className === 'ok' || null", "saved edit")
    eq([k["label"] for k in api.get("/v1/hosts/api.example.com/keys")["keys"]], ["current"], "an edit is saved")
    b.shot(os.path.join(shots, "6-keys.png"))

    # ---- a 24-hour window counts per hour ----
    b.go(base + "/?window=24h")
    b.wait_page("^\\/$")
    to = time.time()
    fmt = lambda x: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(x))
    hourly = api.get("/v1/trends?bucket=hour&by=verdict&from=%s&to=%s" % (fmt(to - 86400), fmt(to)))
    check("per hour" in b.js("return document.querySelector('#trend').closest('section').querySelector('h2').textContent"),
          "a 24-hour window charts hours")
    shown = b.js("return Object.fromEntries([...document.querySelectorAll('#trend .series-totals li')]"
                 ".map(li => [li.dataset.series, Number(li.querySelector('strong').textContent.replace(/\\D/g, ''))]))")
    eq(shown, series_totals(hourly), "hourly chart totals per verdict")

    # ---- a group that does not exist ----
    b.go(base + "/groups/0000000000000000")
    b.wait_page("not-found")
    check("Not found" in b.js("return document.querySelector('#view .empty').textContent"), "an unknown group says it is not found")

    # ---- empty states say what to do ----
    b.go(base + "/?hostname=nothing.example")
    b.wait_page("^\\/$")
    texts = b.js("return [...document.querySelectorAll('.empty')].map(e => e.textContent)")
    check(len(texts) >= 2 and any("No group has reports" in x for x in texts)
          and any("report URI" in x for x in texts), "the empty overview says what to do (%r)" % texts)
    eq(b.js("return document.querySelector('#fig-reports .figure-value').textContent"), "0", "an empty window counts 0 reports")
    eq(b.js("return document.querySelector('input[name=hostname]').value"), "nothing.example", "the filter is read from the query string")
    b.js("document.querySelector('select[name=verdict]').value = 'interception'; document.querySelector('form.filters button').click()")
    b.wait_page("^\\/$")
    eq(urllib.parse.parse_qs(urllib.parse.urlparse(b.js("return location.href")).query),
       {"hostname": ["nothing.example"], "verdict": ["interception"]}, "applied filters go into the query string")

    # ---- 400 px wide ----
    b.size(400, 900)
    b.go(base + "/")
    b.wait_page("^\\/$")
    eq(b.js("return window.innerWidth"), 400, "the viewport is 400 px wide")
    over = b.js("return document.documentElement.scrollWidth")
    check(over <= 400, "the overview fits 400 px (scroll width %d)" % over)
    b.shot(os.path.join(shots, "7-overview-400px.png"))
    b.size(400, 900)
    b.go(base + "/groups/" + forti["id"])
    b.wait_page("^\\/groups\\/([^/]+)$")
    over = b.js("return document.documentElement.scrollWidth")
    check(over <= 400, "the group page fits 400 px (scroll width %d)" % over)
    b.shot(os.path.join(shots, "8-group-400px.png"))
    b.size(400, 900)
    for path, page in (("/reports/" + rid, "^\\/reports\\/([^/]+)$"), ("/pinsets", "^\\/pinsets$"),
                       ("/hosts/api.example.com/keys", "^\\/hosts\\/([^/]+)\\/keys$")):
        b.go(base + path)
        b.wait_page(page)
        over = b.js("return document.documentElement.scrollWidth")
        check(over <= 400, "%s fits 400 px (scroll width %d)" % (path, over))
    eq(b.js("return PW.errors"), [], "no script error or CSP violation on any page")

    # An expired token in the tab: the next load says so.
    b.js("sessionStorage.setItem('pinwatch.token', 'expired')")
    b.go(base + "/pinsets")
    b.wait_page("login")
    check("refused" in b.js("return document.getElementById('login-msg').textContent"), "an expired token is reported")
    # A link carrying the token once: taken, kept, and removed from the address bar.
    b.go(base + "/pinsets?app=com.example.shop#token=" + a.token)
    b.wait_page("^\\/pinsets$")
    eq(b.js("return location.href"), base + "/pinsets?app=com.example.shop", "the token is removed from the address bar")
    eq(b.js("return sessionStorage.getItem('pinwatch.token')"), a.token, "a #token= link's token is kept in sessionStorage")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL " + str(e), flush=True)
        print("%d passed, 1 failed" % len(CHECKS))
        sys.exit(1)
