#!/usr/bin/env python3
"""Keboola's Python client against duckstore's own API, on the same CSV (1 M rows x 6 columns).

  - kbcstorage `tables.create`: files/prepare, the upload through duckstore's Azure-Blob
    endpoint (blocks over 64 MiB), tables-async, job polling
  - duckstore's REST: upload + tables-from-file (the same non-typed table), waited for

Target: the Keboola path within 1.3x of the REST path (it must stream, never buffer a file).
Usage: bench/keboola.py [--rows 1000000] [--repeat 3]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data_io import Duckstore, generate, release_binary  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--binary")
    args = parser.parse_args()
    from kbcstorage.client import Client

    binary = args.binary or release_binary()
    work = tempfile.mkdtemp(prefix="duckstore-bench-kbc-")
    try:
        csv = os.path.join(work, "orders.csv")
        generate(csv, 0, args.rows)
        size_mb = os.path.getsize(csv) / 1e6
        ds = Duckstore(binary, os.path.join(work, "data"), 2, "512MB")
        try:
            token = ds.request("POST", "/projects", {"id": "kbc"})["api_key"]
            ds.key = token
            url = f"http://{ds.host}:{ds.port}"
            client = Client(url, token)
            client.buckets.create("bench")
            rest, keboola = [], []
            for i in range(args.repeat):
                start = time.perf_counter()
                file_id = ds.upload("kbc", csv)
                ds.request("POST", "/projects/kbc/branches/default/buckets/in.c-bench/tables-from-file?wait=true",
                           {"name": f"rest{i}", "file_id": file_id})
                rest.append(time.perf_counter() - start)
                start = time.perf_counter()
                client.tables.create("in.c-bench", f"kbc{i}", csv)
                keboola.append(time.perf_counter() - start)
            rows = client.tables.detail("in.c-bench.kbc0")["rowsCount"]
            assert rows == args.rows, f"kbcstorage loaded {rows} rows of {args.rows}"
            best_rest, best_kbc = min(rest), min(keboola)
            ratio = best_kbc / best_rest
            print(f"\n{'operation':<58}{'duckstore REST':>15}{'kbcstorage':>12}{'ratio':>8}  target")
            print(f"{f'create a table from a {size_mb:.0f} MB CSV ({args.rows:,} rows)':<58}"
                  f"{best_rest:>14.2f}s{best_kbc:>11.2f}s{ratio:>7.2f}x  <=1.30x {'ok' if ratio <= 1.3 else 'MISSED'}")
            print("\nratio = kbcstorage time / REST time, best of", args.repeat)
        finally:
            ds.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
