#!/usr/bin/env python3
"""PostgreSQL wire benchmark: psql against a duckstore workspace vs against PostgreSQL 15.

Loads the same generated table (5 M rows x 6 columns) into duckstore (a project table, read in
a workspace session as "in.c-b".t) and into a PostgreSQL 15 started here on a private port,
then times the same psql commands on both sides, best of N runs (alternating) after a warm-up:
  - COPY (SELECT ...) TO STDOUT                    (target: >= 1.0x PostgreSQL's speed)
  - SELECT * fetched and printed by psql          (target: >= 1.0x)
  - a GROUP BY aggregation over the whole table    (target: >= 10x)
  - a filtered count                               (no target)
  - connect + SELECT 1                             (no target)
The export rows time a whole `psql -c` (connection included). The aggregations are timed as
a client sees them in an open session (psql's \timing: query sent to last row received), so
the row measures the query, not the connection, which has its own row. The warm-up run checks that both sides return the same output (row counts; the aggregates'
values). Prints one table; ratio = PostgreSQL time / duckstore time (> 1: duckstore faster).

Usage: bench/pgwire.py [--rows 5000000] [--runs 3] [--threads 2] [--memory-limit 1GB] [--binary PATH]
                      [--only TEXT]   (only the measures whose name contains TEXT)
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data_io import Duckstore, TABLE_COLUMNS, generate, release_binary, timed  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_SETTINGS = {"shared_buffers": "1GB", "max_parallel_workers_per_gather": "2"}
PG_TABLE = ("id bigint, name text, amount numeric(12,2), created timestamp, active boolean, "
            "category text")
COLUMNS = ", ".join(c["name"] for c in TABLE_COLUMNS)
AGGREGATE = ("SELECT category, count(*), sum(amount), avg(amount), min(created), max(created) "
             "FROM {t} GROUP BY category ORDER BY category")
# name, SQL ({t}: the table), target ratio, psql's -At (unaligned, tuples only), timed in an open session
MEASURES = [
    ("COPY (SELECT ...) TO STDOUT", f"COPY (SELECT {COLUMNS} FROM {{t}}) TO STDOUT", 1.0, False, False),
    ("SELECT * to psql (aligned)", "SELECT * FROM {t}", 1.0, False, False),
    ("GROUP BY category, 5 aggregates", AGGREGATE, 10.0, True, True),
    ("count(*) WHERE active AND amount > 500", "SELECT count(*) FROM {t} WHERE active AND amount > 500", None, True,
     True),
    ("connect + SELECT 1", "SELECT 1", None, True, False),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Side:
    """A server psql can reach: its connection string, password and the table's name."""

    def __init__(self, conninfo, password, table):
        self.conninfo, self.env, self.table = conninfo, dict(os.environ, PGPASSWORD=password), table

    def args(self, tuples_only):
        return ["psql", self.conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1", *(["-At"] if tuples_only else [])]

    def psql(self, sql, tuples_only, stdout):
        subprocess.run([*self.args(tuples_only), "-c", sql.format(t=self.table)], env=self.env, stdout=stdout,
                       check=True)

    def session_times(self, sql, tuples_only, runs):
        """The query's time, `runs` times over one connection, as psql's \\timing reports it."""
        script = "\\timing on\n" + f"{sql.format(t=self.table)};\n" * runs
        out = subprocess.run(self.args(tuples_only), input=script, env=self.env, capture_output=True, text=True,
                             check=True).stdout
        times = [float(ms) / 1000 for ms in re.findall(r"^Time: ([0-9.]+) ms", out, re.M)]
        if len(times) != runs:
            sys.exit(f"psql printed {len(times)} timings for {runs} runs:\n{out[-2000:]}")
        return times

    def output(self, sql, tuples_only):
        """The command's output, kept whole only when short: (lines, bytes, text or None)."""
        with tempfile.TemporaryFile() as f:
            self.psql(sql, tuples_only, f)
            size = f.tell()
            f.seek(0)
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
            f.seek(0)
            return lines, size, f.read().decode() if size < 1 << 20 else None


def best_of(runs, sql, tuples_only, sides):
    """Each side's best time over `runs` rounds; the sides alternate within a round, so a
    change of load on the machine hits both alike."""
    rounds = [[timed(lambda: side.psql(sql, tuples_only, subprocess.DEVNULL)) for side in sides] for _ in range(runs)]
    return [min(times) for times in zip(*rounds)]


def best_in_session(runs, sql, tuples_only, sides):
    """Each side's best query time over `runs` runs in one open session."""
    return [min(side.session_times(sql, tuples_only, runs)) for side in sides]


def as_user():
    """PostgreSQL refuses to run as root: run its programs as `postgres` then."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def start_postgres(data, csv):
    """Starts PostgreSQL 15 in `data` on a private port with the CSV loaded as table t."""
    port = free_port()
    os.mkdir(data)
    if os.geteuid() == 0:
        os.chmod(os.path.dirname(data), 0o755)
        shutil.chown(data, "postgres", "postgres")
    subprocess.run([*as_user(), f"{PG_BIN}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--locale=C"], check=True, stdout=subprocess.DEVNULL)
    options = " ".join(f"-c {k}={v}" for k, v in {
        "port": port, "listen_addresses": "127.0.0.1", "unix_socket_directories": data, **PG_SETTINGS}.items())
    log = os.path.join(data, "log")
    if subprocess.run([*as_user(), f"{PG_BIN}/pg_ctl", "start", "-w", "-D", data, "-l", log, "-o", options],
                      stdout=subprocess.DEVNULL).returncode:
        with open(log) as f:
            sys.exit(f"PostgreSQL did not start:\n{f.read()}")
    pg = Side(f"host=127.0.0.1 port={port} dbname=postgres user=postgres sslmode=disable", "", "t")
    for sql in [f"CREATE TABLE t ({PG_TABLE})", f"COPY t FROM '{csv}' (FORMAT csv, HEADER true)", "VACUUM ANALYZE t"]:
        pg.psql(sql, True, subprocess.DEVNULL)
    return pg


def stop_postgres(data):
    if os.path.exists(os.path.join(data, "postmaster.pid")):
        subprocess.run([*as_user(), f"{PG_BIN}/pg_ctl", "stop", "-D", data, "-m", "fast"], stdout=subprocess.DEVNULL)


def duckstore_workspace(ds, csv):
    """Loads the CSV as table in.c-b.t and opens a workspace over it."""
    ds.key = ds.request("POST", "/projects", {"id": "bench"})["api_key"]
    ds.request("POST", "/projects/bench/branches/default/buckets", {"stage": "in", "name": "b"})
    ds.request("POST", "/projects/bench/branches/default/buckets/in.c-b/tables", {"name": "t", "columns": TABLE_COLUMNS})
    file_id = ds.upload("bench", csv)
    ds.request("POST", "/projects/bench/branches/default/buckets/in.c-b/tables/t/import?wait=true", {"file_id": file_id})
    c = ds.request("POST", "/projects/bench/branches/default/workspaces", {"name": "bench"})["connection"]
    return Side(f"host={c['host']} port={c['port']} dbname={c['database']} user={c['username']} sslmode=disable",
                c["password"], '"in.c-b".t')


def normalized(text):
    """Aggregate rows with numbers rounded: PostgreSQL's avg(numeric) prints 16+ decimals,
    DuckDB's avg(DECIMAL) is a DOUBLE printed with its shortest exact digits."""
    def field(v):
        try:
            return round(float(v), 6)
        except ValueError:
            return v
    return [[field(v) for v in line.split("|")] for line in text.splitlines()]


def check_same(name, ds_out, pg_out):
    """Compares the warm-up outputs of both sides: line counts, and values when short."""
    (ds_lines, ds_bytes, ds_text), (pg_lines, pg_bytes, pg_text) = ds_out, pg_out
    if ds_lines != pg_lines or (ds_text is not None and normalized(ds_text) != normalized(pg_text or "")):
        sys.exit(f"{name}: outputs differ: duckstore {ds_lines} lines / {ds_bytes} bytes {ds_text!r:.300}, "
                 f"PostgreSQL {pg_lines} lines / {pg_bytes} bytes {pg_text!r:.300}")
    return ds_bytes, pg_bytes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="duckstore's and its workspaces' DuckDB threads")
    ap.add_argument("--memory-limit", default="1GB", help="duckstore's and its workspaces' DuckDB memory limit")
    ap.add_argument("--binary", default=None)
    ap.add_argument("--only", default="", help="only the measures whose name contains this text")
    args = ap.parse_args()

    binary = args.binary or release_binary()
    work = tempfile.mkdtemp(prefix="duckstore-bench-", dir=os.environ.get("BENCH_DIR"))
    pg_data, ds = os.path.join(work, "pg"), None
    try:
        csv = os.path.join(work, "t.csv")
        print(f"generating {args.rows:,} rows, loading them into duckstore and PostgreSQL 15 ...", flush=True)
        generate(csv, 0, args.rows)
        ds = Duckstore(binary, os.path.join(work, "ds"), args.threads, args.memory_limit, extra=[
            "--pg-addr", f"127.0.0.1:{free_port()}", "--workspace-threads", str(args.threads),
            "--workspace-memory-limit", args.memory_limit])
        duck = duckstore_workspace(ds, csv)
        pg = start_postgres(pg_data, csv)

        print(f"\n{args.rows:,} rows x 6 columns; duckstore: {args.threads} threads, memory limit {args.memory_limit}; "
              f"PostgreSQL 15: {', '.join(f'{k}={v}' for k, v in PG_SETTINGS.items())}, other settings default;")
        print(f"client: psql over TCP on 127.0.0.1, output to /dev/null; "
              f"best of {args.runs} runs alternating the sides, after a warm-up\n")
        print("| measure | duckstore s | PostgreSQL 15 s | ratio | target |")
        print("|---|---|---|---|---|")
        failed = False
        for name, sql, target, tuples_only, in_session in MEASURES:
            if args.only not in name:
                continue
            ds_bytes, pg_bytes = check_same(name, duck.output(sql, tuples_only), pg.output(sql, tuples_only))
            d, p = (best_in_session if in_session else best_of)(args.runs, sql, tuples_only, [duck, pg])
            name += " (query in open session)" if in_session else ""
            ratio = p / d
            verdict = "" if target is None else f"≥ {target:.1f}× {'ok' if ratio >= target else '**not met**'}"
            failed |= target is not None and ratio < target
            size = f" ({ds_bytes / 1e6:.0f} / {pg_bytes / 1e6:.0f} MB)" if ds_bytes > 1e6 else ""
            print(f"| {name}{size} | {d:.3f} | {p:.3f} | {ratio:.2f}× | {verdict} |", flush=True)
        print("\nratio = PostgreSQL time / duckstore time (> 1: duckstore faster); MB: output size duckstore / PostgreSQL")
        return 1 if failed else 0
    finally:
        if ds:
            ds.stop()
        stop_postgres(pg_data)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
