#!/usr/bin/env python3
"""PostgreSQL wire benchmark: psql against a duckstore workspace vs PostgreSQL 15 and raw DuckDB.

Loads the same generated tables (a fact of 5 M rows x 6 columns, a dimension of 1 000 rows) into
duckstore (project tables, read in a workspace session as "in.c-b".t and "in.c-b".dim), into a
PostgreSQL 15 started here on a private port, and into a DuckDB database file (Python's duckdb,
the same version and settings), then times the same commands on each side, best of N runs
(alternating) after a warm-up:
  - COPY (SELECT ...) TO STDOUT                    (target: >= 1.0x PostgreSQL's speed)
  - SELECT * fetched and printed by psql          (target: >= 1.0x)
  - a GROUP BY aggregation over the whole table    (target: >= 10x)
  - a filtered count                               (no target)
  - a star join (fact x dimension, GROUP BY), ORDER BY ... LIMIT 10, count(DISTINCT), and a
    CREATE TABLE AS of a join into the workspace   (target: <= 1.25x raw DuckDB's time)
  - connect + SELECT 1                             (no target)
The export rows time a whole `psql -c` (connection included). The queries are timed as a client
sees them in an open session (psql's \timing: query sent to last row received; raw DuckDB:
execute to last row fetched), so the row measures the query, not the connection, which has its
own row. The warm-up run checks that duckstore and PostgreSQL return the same output (row
counts; the aggregates' values). Prints one table; vs PG = PostgreSQL time / duckstore time
(> 1: duckstore faster); vs DuckDB = duckstore time / raw DuckDB time (< 1.25: target met).

Usage: bench/pgwire.py [--rows 5000000] [--runs 3] [--threads 2] [--memory-limit 1GB] [--binary PATH]
                      [--only TEXT[,TEXT]]   (only the measures whose name contains one of the TEXTs)
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import duckdb  # noqa: E402
from data_io import Duckstore, TABLE_COLUMNS, generate, release_binary, timed  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_SETTINGS = {"shared_buffers": "1GB", "max_parallel_workers_per_gather": "2"}
PG_TABLE = ("id bigint, name text, amount numeric(12,2), created timestamp, active boolean, "
            "category text")
COLUMNS = ", ".join(c["name"] for c in TABLE_COLUMNS)
AGGREGATE = ("SELECT category, count(*), sum(amount), avg(amount), min(created), max(created) "
             "FROM {t} GROUP BY category ORDER BY category")
DIM_COLUMNS = [{"name": "id", "type": "BIGINT"}, {"name": "region", "type": "VARCHAR"}]
JOIN = "FROM {t} AS f JOIN {d} AS d ON d.id = f.id % 1000"
STAR = f"SELECT d.region, count(*), sum(f.amount), max(f.created) {JOIN} GROUP BY d.region ORDER BY d.region"
TOP = "SELECT id, name, amount FROM {t} ORDER BY amount DESC, id LIMIT 10"
DISTINCT = "SELECT count(DISTINCT name), count(DISTINCT amount) FROM {t}"
CTAS = f"CREATE TABLE joined AS SELECT f.id, f.amount, d.region {JOIN} WHERE f.active"


class Measure:
    """One row of the table: `sql` ({t}: the fact, {d}: the dimension), its target (vs
    PostgreSQL: at least this ratio; vs DuckDB: at most this ratio of raw DuckDB's time),
    psql's -At (unaligned, tuples only), whether it is timed in an open session, and the
    statement that undoes it between runs."""

    def __init__(self, name, sql, pg_target=None, duck_target=None, tuples_only=True, in_session=True, undo=None):
        self.name, self.sql, self.pg_target, self.duck_target = name, sql, pg_target, duck_target
        self.tuples_only, self.in_session, self.undo = tuples_only, in_session, undo


MEASURES = [
    Measure("COPY (SELECT ...) TO STDOUT", f"COPY (SELECT {COLUMNS} FROM {{t}}) TO STDOUT", 1.0, None, False, False),
    Measure("SELECT * to psql (aligned)", "SELECT * FROM {t}", 1.0, None, False, False),
    Measure("GROUP BY category, 5 aggregates", AGGREGATE, 10.0),
    Measure("count(*) WHERE active AND amount > 500", "SELECT count(*) FROM {t} WHERE active AND amount > 500"),
    Measure("star join 5 M x 1 000, GROUP BY region", STAR, None, 1.25),
    Measure("ORDER BY amount DESC LIMIT 10", TOP, None, 1.25),
    Measure("count(DISTINCT) of 2 columns", DISTINCT, None, 1.25),
    Measure("CREATE TABLE AS of the join (2.5 M rows)", CTAS, None, 1.25, undo="DROP TABLE joined"),
    Measure("connect + SELECT 1", "SELECT 1", None, None, True, False),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Side:
    """A server psql can reach: its connection string, password and the tables' names."""

    def __init__(self, conninfo, password, table, dim):
        self.conninfo, self.env = conninfo, dict(os.environ, PGPASSWORD=password)
        self.table, self.dim = table, dim

    def args(self, tuples_only):
        return ["psql", self.conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1", *(["-At"] if tuples_only else [])]

    def text(self, sql):
        return sql.format(t=self.table, d=self.dim)

    def psql(self, sql, tuples_only, stdout):
        subprocess.run([*self.args(tuples_only), "-c", self.text(sql)], env=self.env, stdout=stdout, check=True)

    def session_times(self, measure, runs):
        """The query's time, `runs` times over one connection, as psql's \\timing reports it."""
        undo = f"\\timing off\n{measure.undo};\n\\timing on\n" if measure.undo else ""
        script = "\\timing on\n" + f"{self.text(measure.sql)};\n{undo}" * runs
        out = subprocess.run(self.args(measure.tuples_only), input=script, env=self.env, capture_output=True,
                             text=True, check=True).stdout
        times = [float(ms) / 1000 for ms in re.findall(r"^Time: ([0-9.]+) ms", out, re.M)]
        if len(times) != runs:
            sys.exit(f"psql printed {len(times)} timings for {runs} runs:\n{out[-2000:]}")
        return times

    def output(self, measure):
        """The command's output, kept whole only when short: (lines, bytes, text or None)."""
        with tempfile.TemporaryFile() as f:
            self.psql(measure.sql, measure.tuples_only, f)
            if measure.undo:
                self.psql(measure.undo, True, subprocess.DEVNULL)
            size = f.tell()
            f.seek(0)
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
            f.seek(0)
            return lines, size, f.read().decode() if size < 1 << 20 else None


class RawDuckDB:
    """The same tables in a DuckDB database file, queried in process: the speed duckstore's
    workspaces aim at."""

    def __init__(self, path, csv, dim_csv, threads, memory_limit):
        self.con = duckdb.connect(path, config={"threads": threads, "memory_limit": memory_limit})
        types = ", ".join(f"'{c['name']}': '{c['type']}'" for c in TABLE_COLUMNS)
        self.con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{csv}', columns={{{types}}}, header=true)")
        self.con.execute(f"CREATE TABLE dim AS SELECT * FROM read_csv('{dim_csv}', header=true)")
        self.con.execute("CHECKPOINT")

    def session_times(self, measure, runs):
        def once():
            start = time.perf_counter()
            self.con.execute(measure.sql.format(t="t", d="dim")).fetchall()
            elapsed = time.perf_counter() - start
            if measure.undo:
                self.con.execute(measure.undo)
            return elapsed
        return [once() for _ in range(runs)]


def best_of(runs, measure, sides):
    """Each side's best time over `runs` rounds; the sides alternate within a round, so a
    change of load on the machine hits both alike."""
    run = lambda side: timed(lambda: side.psql(measure.sql, measure.tuples_only, subprocess.DEVNULL))  # noqa: E731
    return [min(times) for times in zip(*[[run(side) for side in sides] for _ in range(runs)])]


def best_in_session(runs, measure, sides):
    """Each side's best query time over `runs` runs in one open session."""
    return [min(side.session_times(measure, runs)) for side in sides]


def as_user():
    """PostgreSQL refuses to run as root: run its programs as `postgres` then."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def start_postgres(data, csv, dim_csv):
    """Starts PostgreSQL 15 in `data` on a private port with the CSVs loaded as tables t and dim."""
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
    pg = Side(f"host=127.0.0.1 port={port} dbname=postgres user=postgres sslmode=disable", "", "t", "dim")
    for sql in [f"CREATE TABLE t ({PG_TABLE})", f"COPY t FROM '{csv}' (FORMAT csv, HEADER true)",
                "CREATE TABLE dim (id bigint, region text)", f"COPY dim FROM '{dim_csv}' (FORMAT csv, HEADER true)",
                "VACUUM ANALYZE t", "VACUUM ANALYZE dim"]:
        pg.psql(sql, True, subprocess.DEVNULL)
    return pg


def stop_postgres(data):
    if os.path.exists(os.path.join(data, "postmaster.pid")):
        subprocess.run([*as_user(), f"{PG_BIN}/pg_ctl", "stop", "-D", data, "-m", "fast"], stdout=subprocess.DEVNULL)


def duckstore_workspace(ds, csv, dim_csv):
    """Loads the CSVs as tables in.c-b.t and in.c-b.dim and opens a workspace over them."""
    ds.key = ds.request("POST", "/projects", {"id": "bench"})["api_key"]
    ds.request("POST", "/projects/bench/branches/default/buckets", {"stage": "in", "name": "b"})
    for name, columns, path in [("t", TABLE_COLUMNS, csv), ("dim", DIM_COLUMNS, dim_csv)]:
        ds.request("POST", "/projects/bench/branches/default/buckets/in.c-b/tables", {"name": name, "columns": columns})
        file_id = ds.upload("bench", path)
        ds.request("POST", f"/projects/bench/branches/default/buckets/in.c-b/tables/{name}/import?wait=true",
                   {"file_id": file_id})
    c = ds.request("POST", "/projects/bench/branches/default/workspaces", {"name": "bench"})["connection"]
    return Side(f"host={c['host']} port={c['port']} dbname={c['database']} user={c['username']} sslmode=disable",
                c["password"], '"in.c-b".t', '"in.c-b".dim')


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
    ap.add_argument("--only", default="", help="only the measures whose name contains one of these texts (a,b)")
    args = ap.parse_args()

    binary = args.binary or release_binary()
    work = tempfile.mkdtemp(prefix="duckstore-bench-", dir=os.environ.get("BENCH_DIR"))
    pg_data, ds = os.path.join(work, "pg"), None
    try:
        csv, dim_csv = os.path.join(work, "t.csv"), os.path.join(work, "dim.csv")
        print(f"generating {args.rows:,} rows, loading them into duckstore, PostgreSQL 15 and DuckDB ...", flush=True)
        generate(csv, 0, args.rows)
        duckdb.sql(f"COPY (SELECT range AS id, 'region ' || (range % 10) AS region FROM range(1000)) "
                   f"TO '{dim_csv}' (FORMAT csv, HEADER true)")
        ds = Duckstore(binary, os.path.join(work, "ds"), args.threads, args.memory_limit, extra=[
            # Plain connections on loopback, like PostgreSQL's side: TLS is measured by neither.
            "--pg-addr", f"127.0.0.1:{free_port()}", "--pg-require-tls", "false", "--workspace-threads", str(args.threads),
            "--workspace-memory-limit", args.memory_limit])
        duck = duckstore_workspace(ds, csv, dim_csv)
        pg = start_postgres(pg_data, csv, dim_csv)
        raw = RawDuckDB(os.path.join(work, "raw.duckdb"), csv, dim_csv, args.threads, args.memory_limit)

        print(f"\n{args.rows:,} rows x 6 columns; duckstore and raw DuckDB: {args.threads} threads, memory limit "
              f"{args.memory_limit}; PostgreSQL 15: {', '.join(f'{k}={v}' for k, v in PG_SETTINGS.items())}, "
              f"other settings default;")
        print(f"client: psql over TCP on 127.0.0.1, output to /dev/null (raw DuckDB: in process); "
              f"best of {args.runs} runs alternating the sides, after a warm-up\n")
        print("| measure | duckstore s | DuckDB s | vs DuckDB | PostgreSQL 15 s | vs PG | target |")
        print("|---|---|---|---|---|---|---|")
        failed = False
        for m in MEASURES:
            if not any(only in m.name for only in args.only.split(",")):
                continue
            ds_bytes, pg_bytes = check_same(m.name, duck.output(m), pg.output(m))
            d, p = (best_in_session if m.in_session else best_of)(args.runs, m, [duck, pg])
            r = min(raw.session_times(m, args.runs)) if m.in_session and m.sql != "SELECT 1" else None
            name = m.name + (" (query in open session)" if m.in_session else "")
            verdicts = []
            if m.pg_target is not None:
                met = p / d >= m.pg_target
                verdicts.append(f"≥ {m.pg_target:.1f}× PG {'ok' if met else '**not met**'}")
                failed |= not met
            if m.duck_target is not None:
                met = d / r <= m.duck_target
                verdicts.append(f"≤ {m.duck_target:.2f}× DuckDB {'ok' if met else '**not met**'}")
                failed |= not met
            size = f" ({ds_bytes / 1e6:.0f} / {pg_bytes / 1e6:.0f} MB)" if ds_bytes > 1e6 else ""
            raw_cells = f"{r:.3f} | {d / r:.2f}×" if r else "— | —"
            print(f"| {name}{size} | {d:.3f} | {raw_cells} | {p:.3f} | {p / d:.2f}× | {'; '.join(verdicts)} |",
                  flush=True)
        print("\nvs DuckDB = duckstore time / raw DuckDB time (< 1: duckstore faster); vs PG = PostgreSQL time / "
              "duckstore time (> 1: duckstore faster); MB: output size duckstore / PostgreSQL")
        return 1 if failed else 0
    finally:
        if ds:
            ds.stop()
        stop_postgres(pg_data)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
