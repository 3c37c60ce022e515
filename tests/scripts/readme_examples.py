#!/usr/bin/env python3
"""The README's examples run as written (CTest `integration.readme`).

Every fenced block opened with ```sh in README.md is an example a user runs after `make run`
and `make demo`, from the clone. This test builds that situation: a fresh database in the test
cluster, the real server, the demo loader (examples/demo.py) filling it through the public API,
and a folder laid out like a clone (var/admin-token, var/database-url, build/pinwatch,
examples/). Then each block runs with bash (-e -o pipefail) in that folder, with the address
127.0.0.1:8080 replaced by the test server's. Like a user's terminal, variables assigned at
the top level of earlier blocks (H=..., id=$(...)) are assigned again before a block.

A block passes when it exits 0 and prints something that is not an error: an HTTP error status
(curl runs with --fail-with-body here), an empty output, a JSON answer with an "error" key, or
JSON whose lists are all empty or whose values are all null fails it. The test
fails when any block fails, or when the README has fewer than MIN_BLOCKS examples.
Blocks meant to be read, not run (make run, systemd units, a restore), use ```bash or ```text.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

MIN_BLOCKS = 10


def sh_blocks(readme):
    """[(line number, code)] of the ```sh blocks."""
    blocks, cur, start = [], None, 0
    with open(readme) as f:
        for n, line in enumerate(f, 1):
            if cur is None and re.match(r"^```sh\s*$", line):
                cur, start = [], n + 1
            elif cur is not None and line.startswith("```"):
                blocks.append((start, "".join(cur)))
                cur = None
            elif cur is not None:
                cur.append(line)
    return blocks


def assignments(code):
    """Top-level variable assignments of a block (one line each, or continued with \\)."""
    out, keep = [], False
    for line in code.splitlines():
        if keep or re.match(r"^(export )?[A-Za-z_][A-Za-z0-9_]*=", line):
            out.append(line)
            keep = line.endswith("\\")
    return "\n".join(out)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def psql(conninfo, sql):
    subprocess.run(["psql", conninfo, "-qAtc", sql], check=True, stdout=subprocess.DEVNULL)


def lists_all_empty(v):
    if isinstance(v, list):
        return len(v) == 0
    if isinstance(v, dict):
        lists = [x for x in v.values() if isinstance(x, list)]
        return bool(lists) and all(len(x) == 0 for x in lists)
    return False


def all_null(v):
    return isinstance(v, dict) and len(v) > 0 and all(x is None for x in v.values())


def judge(stdout):
    """None when the output is data, else why not."""
    text = stdout.strip()
    if not text:
        return "printed nothing"
    try:
        docs = [json.loads(text)]
    except ValueError:
        try:  # jq -c: one document a line
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            return None
    for doc in docs:
        if isinstance(doc, dict) and "error" in doc:
            return f"answered an error: {text[:300]}"
    if all(lists_all_empty(d) or all_null(d) or d is None for d in docs):
        return f"answered no data: {text[:300]}"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--readme", default=None)
    args = ap.parse_args()
    readme = args.readme or os.path.join(args.source, "README.md")
    blocks = sh_blocks(readme)
    if len(blocks) < MIN_BLOCKS:
        print(f"readme: only {len(blocks)} ```sh examples in {readme}, expected >= {MIN_BLOCKS}")
        return 1

    with open(os.path.join(args.state, "conninfo")) as f:
        base = f.read().strip()
    psql(base + " dbname=postgres", "DROP DATABASE IF EXISTS t_readme WITH (FORCE)")
    psql(base + " dbname=postgres", "CREATE DATABASE t_readme")
    conninfo = base + " dbname=t_readme"

    clone = tempfile.mkdtemp(prefix="readme-", dir=args.state)
    os.makedirs(os.path.join(clone, "var"), mode=0o700)
    os.makedirs(os.path.join(clone, "build"))
    os.makedirs(os.path.join(clone, "examples"))
    os.symlink(os.path.abspath(args.bin), os.path.join(clone, "build", "pinwatch"))
    for name in ("reports", "demo.py"):
        os.symlink(os.path.join(args.source, "examples", name),
                   os.path.join(clone, "examples", name))
    for name in ("migrations", "data", "docker", "docs"):
        if os.path.exists(os.path.join(args.source, name)):
            os.symlink(os.path.join(args.source, name), os.path.join(clone, name))
    token = os.urandom(24).hex()
    for name, text in (("admin-token", token), ("database-url", conninfo)):
        with open(os.path.join(clone, "var", name), "w") as f:
            f.write(text + "\n")
        os.chmod(os.path.join(clone, "var", name), 0o600)

    port = free_port()
    env = dict(os.environ, DATABASE_URL=conninfo, PINWATCH_LISTEN=f"127.0.0.1:{port}",
               PINWATCH_TRUSTED_PROXIES="127.0.0.1/32,::1/128",
               PINWATCH_ADMIN_TOKEN_FILE=os.path.join(clone, "var", "admin-token"),
               PINWATCH_SPOOL_DIR=os.path.join(clone, "var", "spool"))
    log = open(os.path.join(clone, "server.log"), "w")
    server = subprocess.Popen([args.bin, "serve"], env=env, stdout=log, stderr=log, cwd=clone)
    failures = []
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"readme: the server exited; see {log.name}")
                time.sleep(0.1)
        demo = subprocess.run([sys.executable, "examples/demo.py", "--url", url, "--seed", "15"],
                              cwd=clone, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        print(demo.stdout)
        if demo.returncode != 0:
            print("readme: the demo loader failed")
            return 1

        # curl as written, but an HTTP error fails the block (a user would see the error text;
        # a jq filter after it could hide it).
        wrappers = os.path.join(clone, "test-bin")
        os.makedirs(wrappers)
        real_curl = shutil.which("curl")
        with open(os.path.join(wrappers, "curl"), "w") as f:
            f.write(f'#!/bin/sh\nexec {real_curl} --fail-with-body "$@"\n')
        os.chmod(os.path.join(wrappers, "curl"), 0o755)
        run_env = {k: v for k, v in os.environ.items()
                   if not k.startswith("PINWATCH_") and k != "DATABASE_URL"}
        run_env["PATH"] = wrappers + os.pathsep + os.environ.get("PATH", "")
        prelude = []
        for line, code in blocks:
            script = "\n".join(prelude + [code.replace("127.0.0.1:8080", f"127.0.0.1:{port}")])
            r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=clone,
                               env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, timeout=120)
            why = f"exit {r.returncode}" if r.returncode != 0 else judge(r.stdout)
            first = code.strip().splitlines()[0]
            if why is None:
                print(f"ok    README.md:{line}: {first}")
            else:
                print(f"FAIL  README.md:{line}: {first}: {why}\n{code}--- stdout:\n"
                      f"{r.stdout[-2000:]}--- stderr:\n{r.stderr[-2000:]}")
                failures.append(line)
            a = assignments(code)
            if a:
                prelude.append(a.replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    print(f"readme: {len(blocks) - len(failures)} of {len(blocks)} examples passed")
    if failures:
        print(f"readme: server log in {log.name}")
        return 1
    shutil.rmtree(clone, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
