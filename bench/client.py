"""The ingest's client work, step by step, on one thread and without a database: where the CPU
of the parse goes (docs/SCALE.md, "Ingest"). ``python -m bench.client [CSV]``: a generated file
of BENCH_ROWS (1,000,000) rows when none is given; batches of TRIPS_BATCH_ROWS, as the ingest.

In the ingest these run in three threads beside PostgreSQL's COPY: reading, validating, cells
and encoding in one, counting the summaries (``add``) in another, and ``prepare`` while the
indexes are built.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np
import pyarrow.compute as pc

from core.config import settings
from core.grid import fine_cells
from core.ingest.encode import encode_rows
from core.ingest.read import batches, open_source
from core.ingest.rollup import Rollup
from core.ingest.validate import validate
from core.synth import generate


def profile(path: str) -> dict[str, float]:
    cfg = settings()
    steps = dict.fromkeys(("read", "validate", "names", "cells", "encode", "add", "prepare"), 0.0)
    rollup, rows = Rollup(1), 0

    def timed(step, f, *args):
        t = time.perf_counter()
        out = f(*args)
        steps[step] += time.perf_counter() - t
        return out

    it = batches(open_source(path), cfg.max_line_bytes, cfg.batch_rows)
    while (batch := timed("read", next, it, None)) is not None:
        good, _ = timed("validate", validate, batch)
        region, source = (timed("names", lambda a: pc.dictionary_encode(a).indices.to_numpy().astype(np.int16), a)
                          for a in (good.region, good.datasource))
        o_cell, d_cell = timed("cells", lambda: (fine_cells(good.o_lon, good.o_lat), fine_cells(good.d_lon, good.d_lat)))
        timed("encode", lambda: encode_rows(1, *(a[np.argsort(o_cell)] for a in (
            region, source, good.ts_us, good.o_lon, good.o_lat, good.d_lon, good.d_lat, o_cell, d_cell))))
        timed("add", rollup.add, region, source, good.ts_us, o_cell, d_cell)
        rows += len(good)
    timed("prepare", rollup.prepare)
    rollup.close()
    return {"rows": rows, **{k: round(v, 3) for k, v in steps.items()}, "total": round(sum(steps.values()), 3)}


def main() -> None:
    if len(sys.argv) > 1:
        print(profile(sys.argv[1]))
        return
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "trips.csv")
        generate(path, int(os.environ.get("BENCH_ROWS", 1_000_000)), seed=7)
        print(profile(path))


if __name__ == "__main__":
    main()
