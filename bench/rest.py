#!/usr/bin/env python3
"""Small REST requests under load, liveness during an import, and many tables.

  1. wrk on table detail, bucket list, job poll and a 10-row preview at c = 1, 16, 64
     (requests/s and p99); targets at c = 16: >= 5 000 req/s with p99 < 10 ms for the
     metadata reads, >= 1 000 req/s for the preview.
  2. /health polled every 5 ms while a 5 M-row import runs: worst latency < 10 ms.
  3. 20 000 tables in one project: listing them < 100 ms, table detail as fast as with
     10 tables, server RSS < 300 MB after each table was read once.

Usage: bench/rest.py [--rows 5000000] [--tables 20000] [--duration 5]
"""

import argparse
import concurrent.futures
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data_io import Duckstore, generate, release_binary  # noqa: E402

BASE = "/projects/p/branches/default"


def wrk(ds, path, connections, duration):
    """Requests per second and p99 latency (ms) of GET `path` at `connections` clients."""
    out = subprocess.run(
        ["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{duration}s", "--latency",
         "-H", f"Authorization: Bearer {ds.key}", f"http://{ds.host}:{ds.port}{path}"],
        capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        sys.exit(f"wrk saw errors on {path}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    return rps, float(p99.group(1)) * scale


def timed_get(ds, path):
    conn = http.client.HTTPConnection(ds.host, int(ds.port), timeout=60)
    start = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {ds.key}"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200, (path, resp.status)
    return (time.perf_counter() - start) * 1000


def best_of(ds, path, n=5):
    return min(timed_get(ds, path) for _ in range(n))


def rss_mb(ds):
    with open(f"/proc/{ds.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load_table(ds, work, name, rows):
    csv = os.path.join(work, f"{name}.csv")
    generate(csv, 0, rows)
    file_id = ds.upload("p", csv)
    job = ds.request("POST", f"{BASE}/buckets/in.c-b/tables-from-file?wait=true", {"name": name, "file_id": file_id})
    os.remove(csv)
    return job


def metadata_reads(ds, work, duration):
    job = load_table(ds, work, "fact", 1000)
    paths = [
        ("table detail", f"{BASE}/buckets/in.c-b/tables/fact", 5000),
        ("bucket list", f"{BASE}/buckets", 5000),
        ("job poll", f"/projects/p/jobs/{job['id']}", 5000),
        ("preview, 10 rows", f"{BASE}/buckets/in.c-b/tables/fact/preview?limit=10", 1000),
    ]
    print(f"\n{'request':<20}{'c':>4}{'req/s':>10}{'p99 ms':>9}  target at c=16")
    for label, path, target in paths:
        for c in (1, 16, 64):
            rps, p99 = wrk(ds, path, c, duration)
            verdict = ""
            if c == 16:
                ok = rps >= target and (p99 < 10 or target < 5000)
                verdict = f">={target} req/s" + (", p99<10ms" if target >= 5000 else "") + (" ok" if ok else " MISSED")
            print(f"{label:<20}{c:>4}{rps:>10.0f}{p99:>9.1f}  {verdict}")


def liveness(ds, work, rows):
    csv = os.path.join(work, "big.csv")
    generate(csv, 0, rows)
    file_id = ds.upload("p", csv)
    worst, stop = [0.0], threading.Event()

    def poll():
        conn = http.client.HTTPConnection(ds.host, int(ds.port), timeout=60)
        while not stop.is_set():
            start = time.perf_counter()
            conn.request("GET", "/health")
            conn.getresponse().read()
            worst[0] = max(worst[0], (time.perf_counter() - start) * 1000)
            time.sleep(0.005)

    poller = threading.Thread(target=poll)
    poller.start()
    start = time.perf_counter()
    ds.request("POST", f"{BASE}/buckets/in.c-b/tables-from-file?wait=true", {"name": "big", "file_id": file_id})
    took = time.perf_counter() - start
    stop.set()
    poller.join()
    verdict = "ok" if worst[0] < 10 else "MISSED"
    print(f"\n/health worst latency during a {rows:,}-row import ({took:.1f}s): {worst[0]:.1f} ms  target <10 ms {verdict}")


def many_tables(ds, tables):
    ds.request("POST", f"{BASE}/buckets", {"name": "many", "stage": "in"})
    ten = best_of(ds, f"{BASE}/buckets/in.c-b/tables/fact")

    def create(i):
        ds.request("POST", f"{BASE}/buckets/in.c-many/tables",
                   {"name": f"t{i}", "columns": [{"name": "id", "type": "INTEGER"}]})

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(tables)))
    made = time.perf_counter() - start
    listing = best_of(ds, f"{BASE}/buckets/in.c-many/tables", 3)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: timed_get(ds, f"{BASE}/buckets/in.c-many/tables/t{i}"), range(tables)))
    detail = best_of(ds, f"{BASE}/buckets/in.c-many/tables/t{tables // 2}")
    rss = rss_mb(ds)
    print(f"\n{tables:,} tables in one project (created in {made:.1f}s):")
    print(f"  list them            {listing:>8.1f} ms   target <100 ms {'ok' if listing < 100 else 'MISSED'}")
    print(f"  table detail         {detail:>8.2f} ms   (with 10 tables: {ten:.2f} ms)")
    print(f"  server RSS           {rss:>8.0f} MB   after reading each once; target <300 MB "
          f"{'ok' if rss < 300 else 'MISSED'}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--tables", type=int, default=20_000)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--binary")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: run scripts/setup")
    work = tempfile.mkdtemp(prefix="duckstore-bench-rest-")
    ds = Duckstore(args.binary or release_binary(), os.path.join(work, "data"), 2, "2GB")
    try:
        ds.key = ds.request("POST", "/projects", {"id": "p"})["api_key"]
        ds.request("POST", f"{BASE}/buckets", {"name": "b", "stage": "in"})
        metadata_reads(ds, work, args.duration)
        liveness(ds, work, args.rows)
        many_tables(ds, args.tables)
    finally:
        ds.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
