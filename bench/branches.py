#!/usr/bin/env python3
"""Dev branch creation is O(1): time creating a branch of a small and of a large project.

The large project holds ~`--big-gb` GB of table data on disk (default 1; `--big-gb 10`
works the same, it only takes longer to load), generated from random hex strings so
DuckDB cannot compress it away. Prints mean/max creation time over `--repeat` branches.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import duckdb  # noqa: E402
from data_io import TABLE_COLUMNS, Duckstore, release_binary  # noqa: E402


def generate_random(path, rows):
    """Rows of the benchmark's columns whose strings are random hex (~60 bytes on disk each)."""
    duckdb.sql(
        f"""COPY (SELECT i AS id, md5(i::VARCHAR) || md5((i + 1)::VARCHAR) AS name, (i % 100000) / 100.0 AS amount,
                  TIMESTAMP '2024-01-01' + INTERVAL (i % 86400) SECOND AS created, i % 2 = 0 AS active,
                  md5((i * 7)::VARCHAR) AS category FROM range({rows}) t(i)) TO '{path}' (FORMAT csv, HEADER true)"""
    )


def project_of_size(ds, name, rows, work):
    """Creates project `name` holding one table of `rows` generated rows (the admin key
    works everywhere); returns its bytes on disk."""
    ds.request("POST", "/projects", {"id": name})
    ds.request("POST", f"/projects/{name}/branches/default/buckets", {"stage": "in", "name": "b"})
    ds.request("POST", f"/projects/{name}/branches/default/buckets/in.c-b/tables", {"name": "t", "columns": TABLE_COLUMNS})
    csv = os.path.join(work, f"{name}.csv")
    generate_random(csv, rows)
    file_id = ds.upload(name, csv)
    os.remove(csv)
    ds.request("POST", f"/projects/{name}/branches/default/buckets/in.c-b/tables/t/import?wait=true", {"file_id": file_id})
    return ds.request("GET", f"/projects/{name}/stats")["size_bytes"]


def time_branches(ds, name, repeat):
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        ds.request("POST", f"/projects/{name}/branches", {"name": f"dev{i}"})
        times.append(time.perf_counter() - start)
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--big-gb", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--binary", default=None)
    args = ap.parse_args()
    binary = args.binary or release_binary()
    work = tempfile.mkdtemp(prefix="duckstore-bench-", dir=os.environ.get("BENCH_DIR"))
    ds = Duckstore(binary, os.path.join(work, "ds"), 2, "512MB")
    try:
        sizes = {
            "small": project_of_size(ds, "small", 100_000, work),
            "big": project_of_size(ds, "big", int(args.big_gb * 1e9 / 60), work),
        }
        print(f"\n{'project':<10} {'table data':>12} {'branch create mean':>20} {'max':>10}")
        means = {}
        for name in ("small", "big"):
            times = time_branches(ds, name, args.repeat)
            means[name] = statistics.mean(times)
            print(f"{name:<10} {sizes[name] / 1e6:>10.0f}MB {means[name] * 1000:>18.2f}ms {max(times) * 1000:>8.2f}ms")
        ratio = means["big"] / means["small"]
        print(f"\nbig/small creation time: {ratio:.2f}x (O(1): no data is copied at creation)")
        return 0 if ratio < 3 else 1
    finally:
        ds.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
