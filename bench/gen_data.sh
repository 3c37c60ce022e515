#!/usr/bin/env bash
# Generate the benchmark's report bodies once: two private PKIs made with the openssl CLI
# (a root, an intermediate, leaves), then TrustKit iOS, TrustKit-Android and HPKP bodies with
# 3-certificate chains over them. Chains repeat across bodies (as in production, where many
# devices hit the same servers) but are not all the same; hostnames, app versions, vendor ids
# and dates vary. Output: bench/data/report-NN.json and bench/data/MANIFEST (one file name a
# line). Usage: gen_data.sh [OUT_DIR] — does nothing when OUT_DIR/MANIFEST already exists.
set -euo pipefail
out=${1:-$(cd "$(dirname "$0")" && pwd)/data}
[ -f "$out/MANIFEST" ] && exit 0
command -v openssl >/dev/null || { echo "gen_data: openssl is required" >&2; exit 1; }
command -v python3 >/dev/null || { echo "gen_data: python3 is required" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# ca NAME SUBJECT [ISSUER] — RSA 2048 CA certificate (self-signed without ISSUER).
ca() {
  local name=$1 subj=$2 issuer=${3:-}
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/$name.key" 2>/dev/null
  if [ -z "$issuer" ]; then
    openssl req -x509 -new -key "$work/$name.key" -subj "$subj" -days 3650 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$work/$name.pem" 2>/dev/null
  else
    openssl req -new -key "$work/$name.key" -subj "$subj" -out "$work/$name.csr" 2>/dev/null
    printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' \
      >"$work/$name.ext"
    openssl x509 -req -in "$work/$name.csr" -CA "$work/$issuer.pem" -CAkey "$work/$issuer.key" \
      -CAcreateserial -days 1825 -sha256 -extfile "$work/$name.ext" -out "$work/$name.pem" 2>/dev/null
  fi
}

# leaf NAME HOST ISSUER ALG — server certificate for HOST (ALG: rsa or ec).
leaf() {
  local name=$1 host=$2 issuer=$3 alg=$4
  if [ "$alg" = ec ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$name.key" 2>/dev/null
  else
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/$name.key" 2>/dev/null
  fi
  openssl req -new -key "$work/$name.key" -subj "/CN=$host" -out "$work/$name.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:%s,DNS:*.bench.example\nextendedKeyUsage=serverAuth\n' \
    "$host" >"$work/$name.ext"
  openssl x509 -req -in "$work/$name.csr" -CA "$work/$issuer.pem" -CAkey "$work/$issuer.key" \
    -CAcreateserial -days 397 -sha256 -extfile "$work/$name.ext" -out "$work/$name.pem" 2>/dev/null
}

# The operator's own PKI and a TLS-inspecting proxy's, so both verdict paths get traffic.
ca root1 "/C=US/O=Bench Trust Services/CN=Bench Root CA R1"
ca int1 "/C=US/O=Bench Trust Services/CN=Bench Issuing CA 1" root1
ca root2 "/C=DE/O=Example Corp/OU=Network Security/CN=Example Corp Inspection Root"
ca int2 "/C=DE/O=Example Corp/CN=Example Corp Proxy CA" root2
leaf api1 api.bench.example int1 rsa
leaf www1 www.bench.example int1 ec
leaf cdn1 cdn.bench.example int1 rsa
leaf api2 api.bench.example int2 rsa
leaf www2 www.bench.example int2 ec

# Pins: the operator's intermediate and leaf keys, plus a backup key that is never served.
pin() { openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | openssl dgst -sha256 -binary | openssl base64 -A; }
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/backup.key" 2>/dev/null
printf '%s\n%s\n%s\n' "$(pin "$work/int1.key")" "$(pin "$work/api1.key")" "$(pin "$work/backup.key")" \
  >"$work/pins"

python3 - "$work" "$out" <<'PY'
import json, os, random, sys, uuid

work, out = sys.argv[1], sys.argv[2]
rnd = random.Random(7469)  # fixed seed: the same data set every time

def pem(name):
    with open(os.path.join(work, name + ".pem")) as f:
        return f.read()

chains = {  # leaf first, as TrustKit and browsers send them
    "api1": [pem("api1"), pem("int1"), pem("root1")],
    "www1": [pem("www1"), pem("int1"), pem("root1")],
    "cdn1": [pem("cdn1"), pem("int1"), pem("root1")],
    "api2": [pem("api2"), pem("int2"), pem("root2")],
    "www2": [pem("www2"), pem("int2"), pem("root2")],
}
host_of = {"api1": "api.bench.example", "www1": "www.bench.example", "cdn1": "cdn.bench.example",
           "api2": "api.bench.example", "www2": "www.bench.example"}
with open(os.path.join(work, "pins")) as f:
    pins = ['pin-sha256="%s"' % p for p in f.read().split()]

def when():
    return "2025-%02d-%02dT%02d:%02d:%02dZ" % (rnd.randint(1, 12), rnd.randint(1, 28),
                                              rnd.randint(0, 23), rnd.randint(0, 59),
                                              rnd.randint(0, 59))

def trustkit(platform, chain):
    host = host_of[chain]
    r = {
        "app-bundle-id": rnd.choice(["com.bench.shop", "com.bench.bank", "com.bench.chat"]),
        "app-version": rnd.choice(["4.1.0", "4.2.0", "4.2.1", "5.0.0"]),
        "app-vendor-id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)).upper(),
        "app-platform": platform,
        "app-platform-version": rnd.choice(["16.7.2", "17.4.1", "17.5"]) if platform == "IOS"
                                else rnd.choice(["12", "13", "14"]),
        "trustkit-version": "3.0.2" if platform == "IOS" else "1.1.5",
        "hostname": host,
        "port": 0 if platform == "IOS" else 443,
        "noted-hostname": "bench.example",
        "include-subdomains": True,
        "enforce-pinning": True,
        "validated-certificate-chain": chains[chain],
        "date-time": when(),
        "known-pins": pins,
        "validation-result": rnd.choice([0, 1]),
    }
    if platform == "ANDROID":
        r["served-certificate-chain"] = chains[chain]
    return r

def hpkp(chain):
    host = host_of[chain]
    return {
        "date-time": when(),
        "hostname": host,
        "port": 443,
        "effective-expiration-date": "2026-%02d-01T00:00:00Z" % rnd.randint(1, 12),
        "include-subdomains": False,
        "noted-hostname": host,
        "served-certificate-chain": chains[chain],
        "validated-certificate-chain": chains[chain],
        "known-pins": pins,
    }

names = list(chains)
files = []
for i in range(36):
    chain = names[rnd.randrange(len(names))]
    kind = i % 3
    if kind == 0:
        # NSJSONSerialization escapes slashes and pretty-prints.
        text = json.dumps(trustkit("IOS", chain), indent=2).replace("/", "\\/")
    elif kind == 1:
        text = json.dumps(trustkit("ANDROID", chain))
    else:
        text = json.dumps(hpkp(chain), indent=2)
    name = "report-%02d.json" % i
    with open(os.path.join(out, name), "w") as f:
        f.write(text)
    files.append(name)
with open(os.path.join(out, "MANIFEST"), "w") as f:
    f.write("\n".join(files) + "\n")
PY
echo "gen_data: $(wc -l <"$out/MANIFEST") report bodies in $out"
