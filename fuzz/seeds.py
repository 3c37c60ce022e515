#!/usr/bin/env python3
"""Seed corpora for the fuzz harnesses, cut at run time from the real reports in
tests/fixtures (so the fixtures are not committed twice) plus a few hand-made edge cases.

usage: seeds.py FIXTURES_DIR OUT_DIR   -> OUT_DIR/<harness>/<n> files
"""
import json
import os
import re
import sys
from urllib.parse import urlsplit


def walk_strings(value, key=None):
    """Yield (key, string) for every string in a JSON value, with the key it sits under."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item, key)
    elif isinstance(value, dict):
        for k, item in value.items():
            yield from walk_strings(item, k)


def main():
    fixtures, out = sys.argv[1], sys.argv[2]
    seeds = {name: set() for name in ("fuzz_report_parse", "fuzz_cert_pem", "fuzz_hostname",
                                      "fuzz_pin", "fuzz_timeparse", "fuzz_rawbody",
                                      "fuzz_network", "fuzz_policy")}
    for root, _, files in os.walk(fixtures):
        for name in sorted(files):
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                raw = f.read()
            if name.endswith(".pem"):
                seeds["fuzz_cert_pem"].add(raw)
                continue
            if not name.endswith((".json", ".txt")):
                continue
            seeds["fuzz_report_parse"].add(raw)
            seeds["fuzz_rawbody"].add(raw)
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            for key, s in walk_strings(doc):
                b = s.encode("utf-8", "surrogatepass")
                if "BEGIN" in s:
                    seeds["fuzz_cert_pem"].add(b)
                if key in ("hostname", "noted-hostname", "server_ip"):
                    seeds["fuzz_hostname"].add(b)
                if key in ("url", "uri") and "://" in s:
                    host = urlsplit(s).hostname
                    if host:
                        seeds["fuzz_hostname"].add(host.encode())
                if s.lower().startswith("pin-sha"):
                    seeds["fuzz_pin"].add(b)
                if re.match(r"^\s*\d{4}-\d\d-\d\d", s):
                    seeds["fuzz_timeparse"].add(b)
                if key in ("server_ip",):
                    seeds["fuzz_network"].add(b"\x00" + b)
    # Edge cases the fixtures do not carry.
    seeds["fuzz_hostname"].update([b"B\xc3\xbccher.Example.", b"[::1]", b"0:0::1", b" a.b ",
                                   b"xn--bcher-kva.example", b"*.example.com", b"192.0.2.1"])
    seeds["fuzz_pin"].update([b"pin-sha256=rFjc3wG7lTZe43zeYTvPq8k4xdDEutCmIhI5dn4oCeE",
                              b"PIN-SHA256 = 'TQEtdMbmwFgYUifM4LDF-xgEtd0z69mPGmkp014d6ZY'",
                              b"pin-sha1=\"d6qzRu9zOECb90Uez27xWltNsj0=\"", b"0" * 64])
    seeds["fuzz_timeparse"].update([b"2015-06-08T01:58:05Z", b"2016-11-06T2\xe5\x8d\x88\xe5"
                                    b"\x89\x8d2:52:28Z", b"2024-02-29 23:59:60.1234567+05:30",
                                    b"0000-01-01T00:00:00+23:59", b"9999-12-31t23:59:59-2359"])
    seeds["fuzz_network"].update([b"\x00198.51.100.7", b"\x00203.0.113.9, 10.0.0.1",
                                  b"\x01[2001:db8::1]:443, 127.0.0.1", b"\x02 ::ffff:1.2.3.4 ,",
                                  b"\x03unknown, 10.1.1.1", b"\x0510.0.0.0/8, ::/0"])
    seeds["fuzz_rawbody"].update([b'{"a":"\\"-----BEGIN' + b"x" * 200 + b'\\/\\u0000"}',
                                  b'["\x00"]', b'"unterminated'])
    policies = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
                            "policy")
    for name in sorted(os.listdir(policies)) if os.path.isdir(policies) else []:
        with open(os.path.join(policies, name), "rb") as f:
            seeds["fuzz_policy"].add(f.read())
    seeds["fuzz_policy"].update([
        b'<network-security-config><domain-config><domain includeSubdomains="true">a.example'
        b'</domain><pin-set expiration="2030-01-01"><pin digest="SHA-256">'
        b'rFjc3wG7lTZe43zeYTvPq8k4xdDEutCmIhI5dn4oCeE=</pin></pin-set><trustkit-config '
        b'enforcePinning="true"><report-uri>https://r.example/</report-uri></trustkit-config>'
        b'</domain-config></network-security-config>',
        b'<plist><dict><key>TSKPinnedDomains</key><dict><key>a.example</key><dict>'
        b'<key>TSKPublicKeyHashes</key><array><string>x</string></array></dict></dict></dict>'
        b'</plist>',
        b"bplist00\xd1\x01\x02"])
    for name, items in seeds.items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        for i, data in enumerate(sorted(items)):
            with open(os.path.join(d, "seed-%04d" % i), "wb") as f:
                f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
