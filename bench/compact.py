"""python -m bench.compact: what compaction buys. The same generated file is loaded FILES times
(--force), answers are timed (median of 5 warm runs), the summaries compacted, answers timed
again. BENCH_ROWS (default 1,000,000) rows per file, BENCH_FILES (default 3) files."""
from __future__ import annotations

import os
import tempfile
import time

import core
from core.synth import generate

from . import scratch_database
from .queries import _median_ms


def main() -> None:
    rows, files = int(os.environ.get("BENCH_ROWS", 1_000_000)), int(os.environ.get("BENCH_FILES", 3))
    with scratch_database() as url:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "trips.csv")
            generate(path, rows, seed=7)
            for _ in range(files):
                assert core.ingest_file(path, force=True, url=url).status == "completed"
        answers = {
            "groups medium, no filter (kept by compaction afterwards)": lambda: core.trip_groups(cell="medium", url=url),
            "groups medium, weekend (aggregated)": lambda: core.trip_groups(cell="medium", days="weekend", url=url),
            "weekly average, 20 km box by origin": lambda: core.weekly_average(
                bbox=(14.3, 49.95, 14.55, 50.15), url=url),
        }
        before = {k: round(_median_ms(f, 5)[0]) for k, f in answers.items()}
        t = time.perf_counter()
        res = core.compact_summaries(url=url)
        took = time.perf_counter() - t
        after = {k: round(_median_ms(f, 5)[0]) for k, f in answers.items()}
        print(f"{files} files of {rows:,} rows; compact (incl. VACUUM ANALYZE): {took:.1f} s")
        for table, n in res.items():
            print(f"  {table}: {n['before']:,} -> {n['after']:,} rows")
        for k in answers:
            print(f"  {k}: {before[k]} -> {after[k]} ms")


if __name__ == "__main__":
    main()
