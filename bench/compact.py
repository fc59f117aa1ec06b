"""python -m bench.compact: what compaction buys. The same generated file is loaded FILES times
(--force), answers are timed (median of 5 warm runs), the summaries compacted, answers timed
again, then once more after one more file of a tenth of the rows (the kept groups with that
file's rows added, "kept+new", where provably exact). BENCH_ROWS (default 1,000,000) rows per
file, BENCH_FILES (default 3) files."""
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
            "groups fine, no filter": lambda: core.trip_groups(cell="fine", url=url),
            "groups medium, no filter": lambda: core.trip_groups(cell="medium", url=url),
            "groups medium, weekend": lambda: core.trip_groups(cell="medium", days="weekend", url=url),
            "groups medium, weekdays 7-9h": lambda: core.trip_groups(cell="medium", days="weekdays",
                                                                     hours=[7, 8, 9], url=url),
            "groups medium, one datasource": lambda: core.trip_groups(
                cell="medium", datasources=core.datasources(url=url)[:1], url=url),
            "groups medium, two regions": lambda: core.trip_groups(
                cell="medium", regions=core.regions(url=url)[:2], url=url),
            "groups fine, two regions": lambda: core.trip_groups(
                cell="fine", regions=core.regions(url=url)[:2], url=url),
            "weekly average, 20 km box by origin": lambda: core.weekly_average(
                bbox=(14.3, 49.95, 14.55, 50.15), url=url),
        }
        before = _timed(answers)
        t = time.perf_counter()
        res = core.compact_summaries(url=url)
        took = time.perf_counter() - t
        after = _timed(answers)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "more.csv")
            generate(path, max(rows // 10, 1), seed=8)
            assert core.ingest_file(path, url=url).status == "completed"
        more = _timed(answers)
        print(f"{files} files of {rows:,} rows; compact (incl. VACUUM ANALYZE): {took:.1f} s")
        for table, n in res.items():
            print(f"  {table}: {n['before']:,} -> {n['after']:,} rows")
        print(f"  answer: before compaction -> after -> after one more file of {max(rows // 10, 1):,} rows "
              "(ms, median of 5; source)")
        for k in answers:
            print(f"  {k}: " + " -> ".join(f"{ms} ({src})" for ms, src in (before[k], after[k], more[k])))


def _timed(answers: dict) -> dict:
    out = {}
    for name, answer in answers.items():
        ms, res = _median_ms(answer, 5)
        out[name] = (round(ms), res.get("source", "summary"))
    return out

if __name__ == "__main__":
    main()
