#!/usr/bin/env python3
"""`make demo`: fill the pinwatch that `make run` started with sample reports.

Two kinds of reports go through the public ingest API (POST /v1/reports):

* examples/reports/: real public sample reports (TrustKit iOS and Android documentation
  samples, an HPKP report, a Chrome Expect-CT test report, Chrome NEL reports), as published.
* a generated population for one fictional shop (apps com.example.shop on iOS and Android,
  host api.shop.example, web site www.shop.example), with real X.509 certificates minted here
  by the openssl command line:
    - stale pins after a key rotation: app versions 4.1 and 4.2 pin the old server key and a
      backup key; the server now presents a new key, on every network;
    - an enterprise TLS proxy (a Zscaler-named root) on one corporate network;
    - debugging proxies (Charles Proxy, mitmproxy) on one developer device each;
    - an antivirus root (Kaspersky-named) on two home networks;
    - browser NEL reports (tls.cert.authority_invalid) from several networks.
  Client networks are simulated with X-Forwarded-For, which `make run`'s server believes from
  loopback (PINWATCH_TRUSTED_PROXIES=127.0.0.1/32,::1/128).

It also declares the shop's expected keys (PUT /v1/hosts/api.shop.example/keys) and writes
the files the README examples use into examples/out/: expected-keys.json, new-chain.pem (a
candidate next server chain for the rotation check) and current-chain.pem.

Keys and certificates are made once and kept in examples/out/pki, so running the demo again
adds reports with the same keys. Standard library only.
"""
import argparse
import base64
import datetime
import hashlib
import json
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

HOST = "api.shop.example"
WEB_HOST = "www.shop.example"
IOS_APP = "com.example.shop"
ANDROID_APP = "com.example.shop.android"

# Client networks (/24): the MaxMind test-database ranges and the documentation ranges.
HOME_NETWORKS = ["81.2.69", "89.160.20", "175.16.199", "216.160.83", "2.125.160", "67.43.156",
                 "202.196.224", "203.0.113", "192.0.2", "100.64.12"]
CORPORATE_NETWORK = "198.51.100"


def run(args, **kw):
    return subprocess.run(args, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


class Pki:
    """Keys and certificates made with the openssl command line, kept under out/pki."""

    def __init__(self, folder):
        self.dir = folder
        os.makedirs(folder, exist_ok=True)

    def path(self, name, ext):
        return os.path.join(self.dir, f"{name}.{ext}")

    def key(self, name):
        p = self.path(name, "key")
        if not os.path.exists(p):
            run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", p])
            os.chmod(p, 0o600)
        return p

    def pin(self, name):
        """pin-sha256 (base64 of the SHA-256 of the SubjectPublicKeyInfo) of a key."""
        der = run(["openssl", "pkey", "-in", self.key(name), "-pubout", "-outform", "DER"]).stdout
        return base64.b64encode(hashlib.sha256(der).digest()).decode()

    def cert(self, name, subject, issuer=None, ca=False, san=None, days_before=30, days=400):
        """A certificate for key `name`, signed by `issuer` (a name made earlier) or itself."""
        p = self.path(name, "pem")
        if os.path.exists(p):
            return p
        key = self.key(name)
        ext = os.path.join(self.dir, f"{name}.ext")
        with open(ext, "w") as f:
            if ca:
                f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
            else:
                f.write("basicConstraints=critical,CA:FALSE\n"
                        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
            f.write("subjectKeyIdentifier=hash\n")
            if issuer is not None:
                f.write("authorityKeyIdentifier=keyid\n")
            if san:
                f.write("subjectAltName=" + ",".join("DNS:" + s for s in san) + "\n")
        csr = os.path.join(self.dir, f"{name}.csr")
        run(["openssl", "req", "-new", "-key", key, "-subj", subject, "-out", csr])
        now = datetime.datetime.now(datetime.timezone.utc)
        start = (now - datetime.timedelta(days=days_before)).strftime("%Y%m%d%H%M%SZ")
        end = (now + datetime.timedelta(days=days)).strftime("%Y%m%d%H%M%SZ")
        # `openssl ca`, not `x509 -req`: OpenSSL 3.0 (Debian 12) sets a start date only there.
        args = ["openssl", "ca", "-batch", "-notext", "-preserveDN",
                "-config", self.ca_config(), "-in", csr, "-out", p, "-extfile", ext,
                "-startdate", start, "-enddate", end, "-md", "sha256"]
        if issuer is None:
            args += ["-selfsign", "-keyfile", key]
        else:
            args += ["-cert", self.path(issuer, "pem"), "-keyfile", self.key(issuer)]
        run(args)
        os.unlink(csr)
        os.unlink(ext)
        return p

    def ca_config(self):
        """A minimal `openssl ca` configuration: its database lives in pki/ca/."""
        ca = os.path.join(self.dir, "ca")
        conf = os.path.join(ca, "openssl.cnf")
        if not os.path.exists(conf):
            os.makedirs(os.path.join(ca, "certs"), exist_ok=True)
            open(os.path.join(ca, "index.txt"), "a").close()
            with open(os.path.join(ca, "serial"), "w") as f:
                f.write(os.urandom(8).hex() + "\n")
            with open(conf, "w") as f:
                f.write(f"""[ca]
default_ca = demo
[demo]
database = {ca}/index.txt
new_certs_dir = {ca}/certs
serial = {ca}/serial
unique_subject = no
policy = anything
[anything]
countryName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
""")
        return conf

    def pem(self, name):
        with open(self.path(name, "pem")) as f:
            return f.read()


def make_pki(pki):
    """The shop's own hierarchy and the interceptors' roots, each signing a leaf for HOST."""
    pki.cert("shop-root", "/O=Example Shop/CN=Example Shop Root CA", ca=True, days=3650)
    pki.cert("shop-issuing", "/O=Example Shop/CN=Example Shop Issuing CA 1", issuer="shop-root",
             ca=True, days=1825)
    san = [HOST, "*.shop.example"]
    pki.cert("leaf-old", f"/O=Example Shop/CN={HOST}", issuer="shop-issuing", san=san,
             days_before=300, days=90)
    pki.cert("leaf-new", f"/O=Example Shop/CN={HOST}", issuer="shop-issuing", san=san,
             days_before=5)
    pki.cert("leaf-next", f"/O=Example Shop/CN={HOST}", issuer="shop-issuing", san=san,
             days_before=1)
    pki.key("backup")  # pinned, never served yet
    interceptors = {
        "zscaler": "/C=US/O=Zscaler Inc./OU=Zscaler Inc./CN=Zscaler Root CA",
        "charles": "/O=XK72 Ltd/OU=https:\\/\\/charlesproxy.com\\/ssl/CN=Charles Proxy CA "
                   "(4 Dec 2026, dev-macbook)",
        "mitmproxy": "/O=mitmproxy/CN=mitmproxy",
        "kaspersky": "/O=AO Kaspersky Lab/CN=Kaspersky Anti-Virus Personal Root Certificate",
    }
    for name, subject in interceptors.items():
        pki.cert(f"{name}-root", subject, ca=True, days=3650)
        pki.cert(f"{name}-leaf", f"/CN={HOST}", issuer=f"{name}-root", san=[HOST], days_before=1,
                 days=30)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Population:
    """Generated reports: (label, media type, X-Forwarded-For address, body bytes)."""

    def __init__(self, pki, rng):
        self.pki = pki
        self.rng = rng
        self.now = datetime.datetime.now(datetime.timezone.utc)
        self.items = []

    def address(self, net):
        return f"{net}.{self.rng.randint(2, 250)}"

    def trustkit(self, label, platform, version, device, net, chain, pins, when_min):
        served = [self.pki.pem(c) for c in chain]
        t = self.now - datetime.timedelta(minutes=when_min)
        body = {
            "app-bundle-id": IOS_APP if platform == "IOS" else ANDROID_APP,
            "app-version": version,
            "app-vendor-id": device,
            "app-platform": platform,
            "app-platform-version": "17.4.1" if platform == "IOS" else "14",
            "trustkit-version": "3.0.3" if platform == "IOS" else "1.1.5",
            "hostname": HOST,
            "port": 0,
            "noted-hostname": "shop.example",
            "include-subdomains": True,
            "enforce-pinning": True,
            "validated-certificate-chain": served,
            "date-time": iso(t),
            "known-pins": [f'pin-sha256="{p}"' for p in pins],
            "validation-result": 1,
            "known-pins-expiration-date": (self.now + datetime.timedelta(days=200)).strftime(
                "%Y-%m-%d"),
        }
        if platform == "ANDROID":
            body["served-certificate-chain"] = served
        self.items.append((label, "application/json", self.address(net),
                           json.dumps(body, indent=2).encode()))

    def nel(self, label, net, when_s):
        body = [{
            "type": "network-error",
            "age": when_s,
            "url": f"https://{WEB_HOST}/checkout",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                          "Chrome/131.0.0.0 Safari/537.36",
            "body": {
                "sampling_fraction": 1.0,
                "referrer": f"https://{WEB_HOST}/",
                "server_ip": "203.0.113.80",
                "protocol": "h2",
                "method": "GET",
                "request_headers": {},
                "response_headers": {},
                "status_code": 0,
                "elapsed_time": self.rng.randint(30, 400),
                "phase": "connection",
                "type": "tls.cert.authority_invalid",
            },
        }]
        self.items.append((label, "application/reports+json", self.address(net),
                           json.dumps(body).encode()))


def generate(pki, rng):
    pop = Population(pki, rng)
    old, new, backup = pki.pin("leaf-old"), pki.pin("leaf-new"), pki.pin("backup")
    issuing = pki.pin("shop-issuing")
    current = ["leaf-new", "shop-issuing", "shop-root"]
    # Stale pins: versions 4.1 and 4.2 pin the old key and the backup; 4.3 pins the new key and
    # the issuing CA, so it does not fail. Many devices, every home network.
    for i in range(36):
        platform = "IOS" if i % 3 else "ANDROID"
        version = "4.1" if i % 2 else "4.2"
        device = str(uuid.UUID(int=rng.getrandbits(128))).upper()
        for k in range(rng.randint(1, 3)):
            pop.trustkit("stale pins after the key rotation", platform, version, device,
                         HOME_NETWORKS[i % len(HOME_NETWORKS)], current, [old, backup],
                         rng.randint(5, 600))
    pinned_now = [new, issuing]
    # An enterprise proxy: 8 devices, all on the corporate network, two app versions.
    for i in range(8):
        device = str(uuid.UUID(int=rng.getrandbits(128))).upper()
        for k in range(2):
            pop.trustkit("enterprise proxy (Zscaler)", "IOS", "4.3" if i % 2 else "4.2", device,
                         CORPORATE_NETWORK, ["zscaler-leaf", "zscaler-root"],
                         pinned_now if i % 2 else [old, backup], rng.randint(5, 300))
    # Debugging proxies: one developer device each, one network.
    dev = str(uuid.UUID(int=rng.getrandbits(128))).upper()
    for k in range(5):
        pop.trustkit("debugging proxy (Charles)", "IOS", "4.3", dev, "100.64.12",
                     ["charles-leaf", "charles-root"], pinned_now, rng.randint(1, 120))
    dev = str(uuid.UUID(int=rng.getrandbits(128))).upper()
    for k in range(3):
        pop.trustkit("debugging proxy (mitmproxy)", "ANDROID", "4.3", dev, "192.0.2",
                     ["mitmproxy-leaf", "mitmproxy-root"], pinned_now, rng.randint(1, 120))
    # An antivirus root on two home devices.
    for net in ("89.160.20", "216.160.83"):
        dev = str(uuid.UUID(int=rng.getrandbits(128))).upper()
        for k in range(2):
            pop.trustkit("antivirus (Kaspersky)", "IOS", "4.3", dev, net,
                         ["kaspersky-leaf", "kaspersky-root"], pinned_now, rng.randint(1, 600))
    # Browsers: NEL reports of certificate errors on the web site.
    for i in range(12):
        pop.nel("browser NEL reports", HOME_NETWORKS[(i * 3) % len(HOME_NETWORKS)],
                rng.randint(1000, 90000))
    return pop.items


# The real public samples (see examples/reports/README.md): file, media type, network.
PUBLIC_SAMPLES = [
    ("trustkit-ios_docs_sample_report.json", "application/json", "81.2.69.160"),
    ("trustkit-android_docs_sample_report.json", "application/json", "175.16.199.20"),
    ("sentry-relay_hpkp.json", "application/json", "2.125.160.216"),
    ("reportd_expect_ct_chrome_test_report.json", "application/expect-ct-report+json",
     "67.43.156.7"),
    ("reportd_nel_chrome77_android_batch.json", "application/reports+json", "202.196.224.9"),
    ("w3c-nel_protocol-error.json", "application/reports+json", "203.0.113.7"),
]


class Api:
    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.token = token

    def request(self, method, path, body=None, headers=None, admin=False):
        h = dict(headers or {})
        if admin:
            h["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


def write_outputs(pki, out):
    keys = {"keys": [{"pin": pki.pin("leaf-new"), "label": "current"},
                     {"pin": pki.pin("backup"), "label": "backup"},
                     {"pin": pki.pin("shop-issuing"), "label": "ca"}]}
    with open(os.path.join(out, "expected-keys.json"), "w") as f:
        json.dump(keys, f, indent=2)
        f.write("\n")
    for name, chain in (("current-chain.pem", ["leaf-new", "shop-issuing"]),
                        ("new-chain.pem", ["leaf-next", "shop-issuing"])):
        with open(os.path.join(out, name), "w") as f:
            f.write("".join(pki.pem(c) for c in chain))
    write_policies(pki, out)
    return keys


def write_policies(pki, out):
    """Two app pin policies for check-policy: the Android one pins the issuing CA and a backup
    key (sound), the iOS one still pins the old leaf key and the backup (broken by the rotation)."""
    expires = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 365 * 86400))
    report_uri = "http://127.0.0.1:8080/v1/reports"
    with open(os.path.join(out, "network_security_config.xml"), "w") as f:
        f.write(f"""<?xml version="1.0" encoding="utf-8"?>
<network-security-config>
  <domain-config>
    <domain includeSubdomains="true">{HOST}</domain>
    <pin-set expiration="{expires}">
      <pin digest="SHA-256">{pki.pin("shop-issuing")}</pin>
      <pin digest="SHA-256">{pki.pin("backup")}</pin>
    </pin-set>
    <trustkit-config enforcePinning="true" disableDefaultReportUri="true">
      <report-uri>{report_uri}</report-uri>
    </trustkit-config>
  </domain-config>
</network-security-config>
""")
    with open(os.path.join(out, "Info.plist"), "w") as f:
        f.write(f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>TSKConfiguration</key>
  <dict>
    <key>TSKPinnedDomains</key>
    <dict>
      <key>{HOST}</key>
      <dict>
        <key>TSKIncludeSubdomains</key><true/>
        <key>TSKEnforcePinning</key><true/>
        <key>TSKPublicKeyHashes</key>
        <array>
          <string>{pki.pin("leaf-old")}</string>
          <string>{pki.pin("backup")}</string>
        </array>
        <key>TSKReportUris</key>
        <array><string>{report_uri}</string></array>
        <key>TSKExpirationDate</key><string>{expires}</string>
      </dict>
    </dict>
  </dict>
</dict>
</plist>
""")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default=os.environ.get("PINWATCH_URL", "http://127.0.0.1:8080"))
    ap.add_argument("--token-file", default=os.environ.get(
        "PINWATCH_ADMIN_TOKEN_FILE", os.path.join(here, "..", "var", "admin-token")))
    ap.add_argument("--out", default=os.environ.get("PINWATCH_DEMO_OUT",
                                                    os.path.join(here, "out")))
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    args = ap.parse_args()

    try:
        with open(args.token_file) as f:
            token = f.readline().strip()
    except OSError as e:
        sys.exit(f"demo: cannot read the admin token ({e}); start the server with `make run`")
    api = Api(args.url, token)
    try:
        api.request("GET", "/healthz")
    except OSError as e:
        sys.exit(f"demo: no pinwatch at {args.url} ({e}): start it with `make run` in another "
                 "terminal")

    os.makedirs(args.out, exist_ok=True)
    pki = Pki(os.path.join(args.out, "pki"))
    make_pki(pki)
    keys = write_outputs(pki, args.out)
    st, body = api.request("PUT", f"/v1/hosts/{HOST}/keys", json.dumps(keys).encode(),
                           {"Content-Type": "application/json"}, admin=True)
    if st != 200:
        sys.exit(f"demo: declaring the expected keys of {HOST} failed: {st} {body[:200]!r}")

    rng = random.Random(args.seed)
    items = generate(pki, rng)
    for name, media, ip in PUBLIC_SAMPLES:
        with open(os.path.join(here, "reports", name), "rb") as f:
            items.append(("public samples", media, ip, f.read()))
    counts = {}
    failed = 0
    for label, media, ip, body in items:
        st, answer = api.request("POST", "/v1/reports", body,
                                 {"Content-Type": media, "X-Forwarded-For": ip})
        c = counts.setdefault(label, [0, 0])
        c[0] += 1
        if st == 200:
            c[1] += len(json.loads(answer).get("accepted", []))
        else:
            failed += 1
            print(f"demo: {label}: {st} {answer[:200].decode(errors='replace')}", file=sys.stderr)
    for label, (posted, accepted) in counts.items():
        print(f"  {label:40} {posted:4} requests, {accepted:4} reports accepted")

    st, body = api.request("GET", "/v1/groups?limit=100", admin=True)
    if st == 200:
        groups = json.loads(body).get("groups", [])
        print(f"\n{len(groups)} groups:")
        for g in groups:
            print(f"  {g['verdict']:18} {str(g.get('kind') or '-'):18} {g['app']:26} "
                  f"{g['hostname']:22} {g['reports']:4} reports {g['networks']:3} networks "
                  f"{g.get('product') or ''}")
        if groups and max(g["networks"] for g in groups) <= 1:
            print("demo: every report came from one network: the server does not believe "
                  "X-Forwarded-For from loopback (PINWATCH_TRUSTED_PROXIES)", file=sys.stderr)
    print(f"\nfiles for the README examples: {args.out}/expected-keys.json, "
          f"{args.out}/new-chain.pem, {args.out}/current-chain.pem")
    if failed:
        sys.exit(f"demo: {failed} requests were refused")


if __name__ == "__main__":
    main()
