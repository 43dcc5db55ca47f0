#!/usr/bin/env python3
"""Data in/out benchmark: duckstore (REST, release build) vs raw DuckDB 1.5.5 on the same data.

Prints one table:
  - REST upload + full CSV import of 5 M rows x 6 columns   vs  CREATE TABLE AS SELECT * FROM read_csv(...)
  - incremental load of 1 M rows (500 k updates) by key     vs  dedupe + DELETE + INSERT in one transaction
  - Parquet (zstd) export of the table                      vs  COPY ... TO (FORMAT parquet)
  - table profile (POST …/profile?wait=true)                vs  SUMMARIZE t (target: within 1.5x its time)
  - peak RSS of the duckstore process while importing a ~2 GB CSV (target: under 1 GB)

Both sides use the same threads and memory limit. Usage:
  bench/data_io.py [--rows 5000000] [--delta 1000000] [--skip-memory] [--threads 2] [--memory-limit 1GB]
"""

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import duckdb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN = "bench-admin-key-0123456789"
COLUMNS = "id BIGINT, name VARCHAR, amount DECIMAL(12,2), created TIMESTAMP, active BOOLEAN, category VARCHAR"
TABLE_COLUMNS = [
    {"name": "id", "type": "BIGINT"},
    {"name": "name", "type": "VARCHAR"},
    {"name": "amount", "type": "DECIMAL(12,2)"},
    {"name": "created", "type": "TIMESTAMP"},
    {"name": "active", "type": "BOOLEAN"},
    {"name": "category", "type": "VARCHAR"},
]


def generate(path, first, rows):
    """Writes `rows` rows with ids first..first+rows as CSV, with DuckDB itself."""
    duckdb.sql(
        f"""COPY (SELECT {first} + i AS id, 'name ' || i AS name, (i % 100000) / 100.0 AS amount,
                  TIMESTAMP '2024-01-01' + INTERVAL (i % 86400) SECOND AS created, i % 2 = 0 AS active,
                  'cat' || (i % 17) AS category
                  FROM range({rows}) t(i)) TO '{path}' (FORMAT csv, HEADER true)"""
    )


class Duckstore:
    def __init__(self, binary, data, threads, memory_limit, extra=()):
        env = dict(os.environ, DUCKSTORE_ADMIN_KEY=ADMIN, RUST_LOG="warn")
        self.proc = subprocess.Popen(
            [binary, "serve", "--data-dir", data, "--http-addr", "127.0.0.1:0", "--threads", str(threads),
             "--memory-limit", memory_limit, "--max-file-size", "100GB", *extra],
            stdout=subprocess.PIPE, env=env, text=True)
        for line in self.proc.stdout:
            if line.startswith("duckstore listening on http://"):
                hostport = line.strip().split("http://")[1]
                self.host, self.port = hostport.split(":")
                break
        else:
            sys.exit("duckstore did not start")
        self.key = ADMIN

    def request(self, method, path, body=None, headers=None, raw=None):
        conn = http.client.HTTPConnection(self.host, int(self.port), timeout=3600)
        h = {"Authorization": f"Bearer {self.key}"}
        h.update(headers or {})
        if raw is not None:
            h["Content-Length"] = str(os.path.getsize(raw))
            with open(raw, "rb") as f:
                conn.request(method, path, body=f, headers=h)
        elif body is not None:
            h["Content-Type"] = "application/json"
            conn.request(method, path, body=json.dumps(body), headers=h)
        else:
            conn.request(method, path, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status >= 300:
            sys.exit(f"{method} {path}: {resp.status} {data[:500]!r}")
        return json.loads(data) if data else None

    def request_text(self, method, path):
        conn = http.client.HTTPConnection(self.host, int(self.port), timeout=60)
        conn.request(method, path, headers={"Authorization": f"Bearer {self.key}"})
        return conn.getresponse().read().decode()

    def upload(self, project, path):
        name = urllib.parse.quote(os.path.basename(path))
        return self.request("POST", f"/projects/{project}/files/upload?name={name}", raw=path)["id"]

    def peak_rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def raw_duckdb(work, threads, memory_limit, base, delta, rows):
    path = os.path.join(work, "raw.duckdb")
    con = duckdb.connect(path, config={"threads": threads, "memory_limit": memory_limit})
    t_import = timed(lambda: con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{base}')") and con.execute("CHECKPOINT"))
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == rows

    def incremental():
        con.execute("BEGIN")
        con.execute(f"""CREATE TEMP TABLE delta AS SELECT * FROM read_csv('{delta}', columns={{{', '.join(
            f"'{c['name']}': '{c['type']}'" for c in TABLE_COLUMNS)}}}, header=true)
            QUALIFY row_number() OVER (PARTITION BY id) = 1""")
        con.execute("DELETE FROM t WHERE id IN (SELECT id FROM delta)")
        con.execute("INSERT INTO t SELECT * FROM delta")
        con.execute("DROP TABLE delta")
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    t_incr = timed(incremental)
    t_export = timed(lambda: con.execute(f"COPY t TO '{os.path.join(work, 'raw.parquet')}' (FORMAT parquet, COMPRESSION zstd)"))
    t_profile = timed(lambda: con.execute("SUMMARIZE t").fetchall())
    con.close()
    return t_import, t_incr, t_export, t_profile


def duckstore_side(binary, work, threads, memory_limit, base, delta, rows, delta_rows):
    ds = Duckstore(binary, os.path.join(work, "ds"), threads, memory_limit)
    try:
        project = ds.request("POST", "/projects", {"id": "bench"})
        ds.key = project["api_key"]
        ds.request("POST", "/projects/bench/branches/default/buckets", {"stage": "in", "name": "b"})
        ds.request("POST", "/projects/bench/branches/default/buckets/in.c-b/tables",
                   {"name": "t", "columns": TABLE_COLUMNS, "primary_key": ["id"]})
        table = "/projects/bench/branches/default/buckets/in.c-b/tables/t"

        def full():
            file_id = ds.upload("bench", base)
            ds.request("POST", f"{table}/import?wait=true", {"file_id": file_id})
        t_import = timed(full)
        assert ds.request("GET", table)["row_count"] == rows

        def incremental():
            file_id = ds.upload("bench", delta)
            ds.request("POST", f"{table}/import?wait=true", {"file_id": file_id, "incremental": True})
        t_incr = timed(incremental)
        assert ds.request("GET", table)["row_count"] == rows + delta_rows // 2
        t_export = timed(lambda: ds.request("POST", f"{table}/export?wait=true", {"format": "parquet"}))
        t_profile = timed(lambda: ds.request("POST", f"{table}/profile?wait=true", {}))
    finally:
        ds.stop()
    return t_import, t_incr, t_export, t_profile


def memory_side(binary, work, threads, memory_limit, gb):
    rows = int(gb * 1e9 / 60)  # ~60 bytes per generated row
    big = os.path.join(work, "big.csv")
    generate(big, 0, rows)
    size_gb = os.path.getsize(big) / 1e9
    ds = Duckstore(binary, os.path.join(work, "ds-mem"), threads, memory_limit)
    try:
        ds.request("POST", "/projects", {"id": "mem"})
        ds.request("POST", "/projects/mem/branches/default/buckets", {"stage": "in", "name": "b"})
        ds.request("POST", "/projects/mem/branches/default/buckets/in.c-b/tables",
                   {"name": "t", "columns": TABLE_COLUMNS, "primary_key": ["id"]})
        file_id = ds.upload("mem", big)
        ds.request("POST", "/projects/mem/branches/default/buckets/in.c-b/tables/t/import?wait=true", {"file_id": file_id})
        return size_gb, ds.peak_rss_mb()
    finally:
        ds.stop()
        os.remove(big)


def release_binary():
    """Builds the release binary (reusing the shared build cache) and returns its path."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/duckstore/target"))
    subprocess.run(["cargo", "build", "--release", "-p", "duckstore"], cwd=ROOT, check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=target))
    return os.path.join(target, "release", "duckstore")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--delta", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="512MB", help="DuckDB memory limit on both sides (duckstore's default)")
    ap.add_argument("--memory-gb", type=float, default=2.0, help="size of the CSV for the memory check")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--binary", default=None)
    args = ap.parse_args()

    binary = args.binary or release_binary()

    work = tempfile.mkdtemp(prefix="duckstore-bench-", dir=os.environ.get("BENCH_DIR"))
    try:
        base, delta = os.path.join(work, "base.csv"), os.path.join(work, "delta.csv")
        print(f"generating {args.rows:,} rows and a {args.delta:,}-row delta ...", flush=True)
        generate(base, 0, args.rows)
        generate(delta, args.rows - args.delta // 2, args.delta)  # half updates, half new keys
        raw = raw_duckdb(work, args.threads, args.memory_limit, base, delta, args.rows)
        ds = duckstore_side(binary, work, args.threads, args.memory_limit, base, delta, args.rows, args.delta)

        print()
        print(f"{'operation':<48} {'duckstore':>10} {'raw DuckDB':>11} {'ratio':>7} {'target':>7}")
        names = [
            (f"upload + CSV import, {args.rows:,} rows", 0.85),
            (f"incremental PK load, {args.delta:,} into {args.rows:,}", 0.85),
            ("Parquet (zstd) export", 0.90),
            ("table profile (raw: SUMMARIZE)", 0.67),
        ]
        failed = False
        for (name, target), d, r in zip(names, ds, raw):
            ratio = r / d
            failed |= ratio < target
            print(f"{name:<48} {d:>9.2f}s {r:>10.2f}s {ratio:>6.2f}x {target:>6.2f}x {'ok' if ratio >= target else 'BELOW'}")
        if not args.skip_memory:
            size_gb, peak = memory_side(binary, work, args.threads, args.memory_limit, args.memory_gb)
            ok = peak < 1024
            failed |= not ok
            print(f"{f'peak RSS importing a {size_gb:.1f} GB CSV':<48} {peak:>8.0f}MB {'':>11} {'':>7} {'<1024MB':>7} {'ok' if ok else 'ABOVE'}")
        print("\nratio = raw DuckDB time / duckstore time (higher is better; 1.0 = as fast as DuckDB alone)")
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
