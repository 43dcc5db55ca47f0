#!/usr/bin/env python3
"""Plugin benchmark: the import-jsonl WASM plugin vs DuckDB's native JSON reader, and the
per-request cost of an auth-provider plugin.

Prints one table:
  - import of the same ~1 GB NDJSON (6 typed columns): duckstore's import job parsing it in the
    sandboxed import-jsonl plugin  vs  CREATE TABLE AS SELECT * FROM read_json(...) in DuckDB
    (target: >= 0.5x DuckDB's speed); the upload is timed separately;
  - request latency with an API key vs with a JWT checked by the auth-jwt plugin (fresh pooled
    instance per request), p50 and p99 over N requests on one keep-alive connection; the
    difference is the plugin's overhead.

Usage: bench/plugins.py [--gb 1.0] [--requests 3000] [--threads 2] [--memory-limit 512MB]
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import duckdb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data_io import ADMIN, Duckstore, release_binary, timed  # noqa: E402

COLUMNS = [
    ("id", "BIGINT"), ("name", "VARCHAR"), ("amount", "DOUBLE"),
    ("created", "TIMESTAMP"), ("active", "BOOLEAN"), ("category", "VARCHAR"),
]
SECRET = "bench-jwt-secret"
TABLE = "/projects/bench/branches/default/buckets/in.c-b/tables/t"
BRANCHES = "/projects/bench/branches"


def generate(path, gb):
    rows = int(gb * 1e9 / 125)  # ~125 bytes per line
    duckdb.sql(
        f"""COPY (SELECT i AS id, 'name ' || i AS name, (i % 100000) / 100.0 AS amount,
                  TIMESTAMP '2024-01-01' + INTERVAL (i % 86400) SECOND AS created, i % 2 = 0 AS active,
                  'cat' || (i % 17) AS category FROM range({rows}) t(i))
            TO '{path}' (FORMAT json)"""
    )
    return rows


def raw_duckdb(work, path, threads, memory_limit, rows):
    con = duckdb.connect(os.path.join(work, "raw.duckdb"), config={"threads": threads, "memory_limit": memory_limit})
    columns = ", ".join(f"'{name}': '{ty}'" for name, ty in COLUMNS)
    seconds = timed(lambda: con.execute(
        f"CREATE TABLE t AS SELECT * FROM read_json('{path}', format='newline_delimited', columns={{{columns}}})"
    ) and con.execute("CHECKPOINT"))
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == rows
    con.close()
    return seconds


def jwt(claims):
    enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    signing_input = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + enc(json.dumps(claims).encode())
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + enc(signature)


def latencies(ds, token, path, n):
    conn = http.client.HTTPConnection(ds.host, int(ds.port))
    headers = {"Authorization": f"Bearer {token}"}
    out = []
    for i in range(n + 50):
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            sys.exit(f"GET {path}: {resp.status}")
        if i >= 50:  # warm-up
            out.append((time.perf_counter() - start) * 1e6)
    conn.close()
    out.sort()
    return statistics.median(out), out[int(len(out) * 0.99) - 1]


def plugin_mean_us(metrics, plugin):
    """Mean time per call of `plugin` as the server measured it (instantiate + call)."""
    values = {}
    for line in metrics.splitlines():
        if line.startswith("duckstore_plugin_call_duration_seconds_") and f'plugin="{plugin}"' in line:
            values[line.split("{")[0].rsplit("_", 1)[1]] = float(line.rsplit(" ", 1)[1])
    return values["sum"] / values["count"] * 1e6


def duckstore_side(binary, work, path, rows, threads, memory_limit, requests):
    config = os.path.join(work, "duckstore.toml")
    with open(config, "w") as f:
        f.write(f'auth_providers = ["auth-jwt"]\n[plugins.auth-jwt]\nhs256_secret = "{SECRET}"\n')
    ds = Duckstore(binary, os.path.join(work, "ds"), threads, memory_limit, extra=["--config", config])
    try:
        ds.key = ds.request("POST", "/projects", {"id": "bench"})["api_key"]
        ds.request("POST", "/projects/bench/branches/default/buckets", {"stage": "in", "name": "b"})
        ds.request("POST", "/projects/bench/branches/default/buckets/in.c-b/tables",
                   {"name": "t", "columns": [{"name": n, "type": t} for n, t in COLUMNS]})
        file_id = None

        def upload():
            nonlocal file_id
            file_id = ds.upload("bench", path)
        t_upload = timed(upload)
        t_import = timed(lambda: ds.request("POST", f"{TABLE}/import?wait=true", {"file_id": file_id}))
        assert ds.request("GET", TABLE)["row_count"] == rows

        token = jwt({"sub": "bench", "exp": int(time.time()) + 3600,
                     "duckstore_grants": [{"project": "bench", "branch": "default", "role": "branch_read"}]})
        key_lat = latencies(ds, ds.key, BRANCHES, requests)
        jwt_lat = latencies(ds, token, BRANCHES, requests)
        ds.key = ADMIN
        plugin_mean = plugin_mean_us(ds.request_text("GET", "/metrics"), "auth-jwt")
    finally:
        ds.stop()
    return t_upload, t_import, key_lat, jwt_lat, plugin_mean


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=1.0, help="size of the NDJSON file")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="512MB")
    ap.add_argument("--binary", default=None)
    args = ap.parse_args()
    binary = args.binary or release_binary()

    work = tempfile.mkdtemp(prefix="duckstore-bench-", dir=os.environ.get("BENCH_DIR"))
    try:
        path = os.path.join(work, "rows.jsonl")
        print(f"generating ~{args.gb} GB of NDJSON ...", flush=True)
        rows = generate(path, args.gb)
        size_gb = os.path.getsize(path) / 1e9
        print("raw DuckDB read_json ...", flush=True)
        t_raw = raw_duckdb(work, path, args.threads, args.memory_limit, rows)
        print("duckstore ...", flush=True)
        t_upload, t_import, (k50, k99), (j50, j99), plugin_mean = duckstore_side(
            binary, work, path, rows, args.threads, args.memory_limit, args.requests)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"NDJSON: {rows:,} rows, {size_gb:.2f} GB; threads={args.threads}, memory_limit={args.memory_limit}")
    print(f"| {'measure':<44} | {'duckstore':>12} | {'DuckDB':>10} | {'ratio':>6} | target |")
    print(f"|{'-' * 46}|{'-' * 14}|{'-' * 12}|{'-' * 8}|--------|")
    print(f"| {'NDJSON import (import-jsonl plugin)':<44} | {t_import:>10.2f} s | {t_raw:>8.2f} s | "
          f"{t_raw / t_import:>5.2f}x | >= 0.5x |")
    print(f"| {'  upload before it (hash + fsync)':<44} | {t_upload:>10.2f} s | {'':>10} | {'':>6} |        |")
    row = lambda label, value: print(f"| {label:<44} | {value:>12} | {'':>10} | {'':>6} |        |")
    row("GET branches, API key: p50 / p99", f"{k50:.0f}/{k99:.0f} us")
    row("GET branches, JWT via auth-jwt: p50 / p99", f"{j50:.0f}/{j99:.0f} us")
    row("auth plugin overhead, client side: p50 / p99", f"{j50 - k50:.0f}/{j99 - k99:.0f} us")
    row("auth-jwt call, server side: mean", f"{plugin_mean:.0f} us")


if __name__ == "__main__":
    main()
