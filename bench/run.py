"""make bench: ingest of generated trips against a plain COPY baseline, in one run.

Figures are ratios against the baseline measured here and now (machines are noisy).
Rows: BENCH_ROWS (default 1,000,000).
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time

from core.db import raw_connection
from core.ingest.jobs import Job

from . import scratch_database


def main() -> None:
    rows = int(os.environ.get("BENCH_ROWS", 1_000_000))
    with scratch_database() as url:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "trips.csv")
            t = time.perf_counter()
            # in a process of its own: this one's peak memory is then the ingest's (and the baseline's)
            subprocess.run([sys.executable, "-m", "core", "generate", "--rows", str(rows), "--seed", "7", path],
                           check=True, stdout=subprocess.DEVNULL)
            print(f"generate {rows:,} rows: {time.perf_counter() - t:.2f} s")
            with raw_connection(url) as conn, conn.cursor() as cur, open(path, "rb") as f:
                cur.execute("CREATE UNLOGGED TABLE copy_baseline (a text, b text, c text, d text, e text)")
                t = time.perf_counter()
                cur.copy_expert("COPY copy_baseline FROM STDIN WITH (FORMAT csv, HEADER)", f)
                conn.commit()
                baseline = time.perf_counter() - t
                cur.execute("DROP TABLE copy_baseline")
                conn.commit()
            print(f"baseline: plain COPY into an UNLOGGED table of 5 text columns: {baseline:.2f} s")
            job = Job(path, url=url)
            t = time.perf_counter()
            res = job.run()
            whole = time.perf_counter() - t
            print(f"ingest (parse, validate, COPY, index, summaries, commit): {whole:.2f} s, "
                  f"{res.status}, {res.rows_loaded:,} rows; phases {job.progress.timings}")
            print(f"speed relative to plain COPY: {baseline / whole:.2f}x (target 0.4x)")
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"peak client memory (max RSS of this process: the ingest, the baseline's COPY): {peak:.0f} MB "
                  "(target: under 300 MB)")


if __name__ == "__main__":
    main()
