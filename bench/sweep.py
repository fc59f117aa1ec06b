"""Which plausible groups answers take longer than the 300 ms target: every combination of the
three cell sizes, 1 and 3-hour buckets, four periods and seven filters (168 answers), each the
median of 3 warm runs, with the source that answered it.

    BENCH_DATABASE_URL=... python -m bench.sweep > sweep.txt

The periods and names fit the databases `python -m core generate` makes (trips from 2018 to
2020; regions Prague and Berlin, datasource cheap_mobile). Nothing else should run meanwhile.
"""
from __future__ import annotations

import itertools
import os
import statistics
import time

import core

TARGET_MS = 300
PERIODS = {"all": {}, "quarter": {"date_from": "2019-01-01", "date_to": "2019-03-31"},
           "year": {"date_from": "2018-06-01", "date_to": "2019-05-31"},
           "6 weeks": {"date_from": "2019-02-10", "date_to": "2019-03-24"}}
FILTERS = {"none": {}, "region": {"regions": ["Prague"]}, "datasource": {"datasources": ["cheap_mobile"]},
           "weekend": {"days": "weekend"}, "7-9h": {"hours": [7, 8, 9]}, "6-8h": {"hours": [6, 7, 8]},
           "region+weekend": {"regions": ["Berlin"], "days": "weekend"}}


def main() -> None:
    url = os.environ["BENCH_DATABASE_URL"]
    slow = []
    for cell, bucket, (period, p), (name, f) in itertools.product(
            ("fine", "medium", "coarse"), (1, 3), PERIODS.items(), FILTERS.items()):
        kw = dict(cell=cell, bucket_hours=bucket, url=url, **p, **f)
        core.trip_groups(**kw)  # warm
        times = []
        for _ in range(3):
            start = time.perf_counter()
            res = core.trip_groups(**kw)
            times.append((time.perf_counter() - start) * 1000)
        line = f"{cell:6s} {bucket}h {period:8s} {name:15s} {statistics.median(times):7.0f} ms  {res['source']}"
        print(line, flush=True)
        if statistics.median(times) > TARGET_MS:
            slow.append(line)
    print(f"\npast {TARGET_MS} ms: {len(slow)} of {len(PERIODS) * len(FILTERS) * 6}")
    print("\n".join(slow))


if __name__ == "__main__":
    main()
