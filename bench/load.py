"""make loadtest: dashboard sessions interacting while a large ingest runs, in one run.

Several dashboard sessions (Streamlit's AppTest running dashboard/app.py, one process each: AppTest
keeps process-wide state, so it cannot run two sessions in one process) change filters and areas
over and over, each interaction timed as the page's whole rerun, queries included. Three phases,
in a fresh database (dropped at the end) holding a base load of trips:

1. baseline: no ingest;
2. during ingest: ``python -m core ingest`` of a large generated file runs in another process
   (only interactions that end before the job commits count here);
3. after: the job has committed (caches invalidated, the bigger data).

Reported per phase: interactions, errors (exceptions, error messages on the page, timeouts:
must be 0) and the latency percentiles. Machines are noisy: compare phases of one run only.

Settings (environment): LOADTEST_ROWS (the ingest, default 2,000,000), LOADTEST_BASE_ROWS (loaded
before, default 500,000), LOADTEST_SESSIONS (default 5), LOADTEST_BASELINE_S and LOADTEST_AFTER_S
(seconds of those phases, default 60 and 30), LOADTEST_THINK_S (mean pause between a session's
interactions, default 0.5), LOADTEST_SEED (default 1), LOADTEST_JSON (a file for the figures).
See docs/LOADTEST.md for figures measured here.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import core
from core.db import raw_connection
from core.synth import CITIES, DATASOURCES, generate

from . import scratch_database

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
RUN_TIMEOUT_S = 120  # one rerun taking longer is counted as an error


def _env(name: str, default: float) -> float:
    return type(default)(os.environ.get(name, default))


def _widget(widgets, label: str):
    for w in widgets:
        if w.label == label:
            return w
    raise LookupError(f"no widget labelled {label!r} on the page")


# -- interactions: what an analyst does; each returns a short label for the per-kind table ------------

def _regions(at, rng):
    w = _widget(at.sidebar.multiselect, "Regions")
    w.set_value(rng.sample(sorted(CITIES), rng.choice((0, 1, 1, 2, 3))))
    return "regions"


def _datasources(at, rng):
    w = _widget(at.sidebar.multiselect, "Datasources")
    w.set_value(rng.sample(DATASOURCES, rng.choice((0, 1, 2))))
    return "datasources"


def _cell(at, rng):
    cell = rng.choice(("fine", "medium", "coarse"))
    _widget(at.sidebar.button_group, "Cell size").set_value(cell)
    return f"cell size: {cell}"  # fine cells are grouped from the raw rows: reported apart


def _bucket(at, rng):
    _widget(at.sidebar.select_slider, "Time bucket (hours)").set_value(rng.choice((1, 2, 3, 4, 6, 24)))
    return "time bucket"


def _hours(at, rng):
    a = rng.randrange(0, 23)
    _widget(at.sidebar.slider, "Hours of the day").set_value((a, rng.randrange(a, 24)))
    return "hours"


def _days(at, rng):
    _widget(at.sidebar.button_group, "Days").set_value(rng.choice(("all", "weekdays", "weekend")))
    return "days"


def _limit(at, rng):
    _widget(at.sidebar.select_slider, "Groups on the map").set_value(rng.choice((100, 250, 500, 1000)))
    return "groups shown"


def _box_area(at, rng):
    w = _widget(at.selectbox, "Start from a region's extent")
    w.set_value(rng.choice([o for o in w.options if o != w.value] or w.options))
    return "weekly: area"


def _box_by(at, rng):
    _widget(at.button_group, "Count trips by").set_value(rng.choice(("origin", "destination", "either")))
    return "weekly: count by"


def _box_edge(at, rng):
    w = _widget(at.number_input, "West")
    w.set_value(round(w.value + rng.choice((-0.03, -0.01, 0.01, 0.03)), 4))
    return "weekly: box edge"


INTERACTIONS = [_regions, _regions, _cell, _bucket, _hours, _days, _datasources, _limit,
                _box_area, _box_by, _box_edge]


def _session(n: int, url: str, seed: int, think_s: float, phase, ack, records) -> None:
    """One analyst, in its own process (AppTest keeps a process-wide runtime, so two in one process
    would trip over each other). Each time ``phase`` turns to a new phase number, it clears the
    page's caches, opens the page and interacts until ``phase`` changes; ``-1`` ends it. Records
    ``(phase, start, end, kind, error)`` with the machine-wide monotonic clock."""
    os.environ["DATABASE_URL"] = url
    os.environ["TRIPS_LIVE_UPDATES"] = "0"  # AppTest waits for the script to end
    for var in ("LOADER_DATABASE_URL", "READER_DATABASE_URL"):
        os.environ.pop(var, None)
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    rng = random.Random(seed * 1000 + n)
    AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S).run()  # imports and connections: not timed
    ack[n] = 0
    current = 0

    def timed(kind, at) -> bool:
        start, error = time.monotonic(), None
        try:
            at.run()
            if at.exception:
                error = f"{kind}: exception: {at.exception[0].message[:300]}"
            elif len(at.error):
                error = f"{kind}: error on the page: {at.error[0].value[:300]}"
        except Exception as e:  # noqa: BLE001 - counted and reported
            error = f"{kind}: {type(e).__name__}: {str(e)[:300]}"
        records.put((current, start, time.monotonic(), kind, error))
        return error is None

    while True:
        wanted = phase.value
        if wanted < 0:
            return
        if wanted == current:
            time.sleep(0.05)
            continue
        current = ack[n] = wanted
        if not current:
            continue
        st.cache_data.clear()
        at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
        ok = timed("open the page", at)
        while phase.value == current:
            time.sleep(rng.expovariate(1 / think_s) if think_s else 0)
            if not ok:  # a broken page: open it again
                at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)
                ok = timed("open the page", at)
                continue
            action = rng.choice(INTERACTIONS)
            try:
                kind = action(at, rng)
            except Exception as e:  # noqa: BLE001 - a missing widget is a broken page: an error
                now = time.monotonic()
                records.put((current, now, now, action.__name__, f"{type(e).__name__}: {e}"))
                ok = False
                continue
            ok = timed(kind, at)


class Sessions:
    """``n`` session processes, driven phase by phase."""

    def __init__(self, n: int, url: str, seed: int, think_s: float):
        ctx = mp.get_context("spawn")
        self.phase, self.ack, self.records = ctx.Value("i", 0), ctx.Array("i", [-1] * n), ctx.Queue()
        self.procs = [ctx.Process(target=_session, args=(i, url, seed, think_s, self.phase, self.ack,
                                                         self.records), daemon=True) for i in range(n)]
        for p in self.procs:
            p.start()
        self._wait_all(0, "start")
        self.log: dict[int, list] = defaultdict(list)

    def _wait_all(self, value: int, what: str) -> None:
        deadline = time.monotonic() + RUN_TIMEOUT_S + 60
        while any(a != value for a in self.ack[:]):
            self._drain()
            if time.monotonic() > deadline or not all(p.is_alive() for p in self.procs):
                raise RuntimeError(f"sessions did not {what}: {self.ack[:]}")
            time.sleep(0.05)

    def _drain(self) -> None:
        while True:
            try:
                rec = self.records.get_nowait()
            except queue.Empty:
                return
            self.log[rec[0]].append(rec[1:])

    def run(self, number: int, until) -> list:
        """Phase ``number`` until ``until()`` is true; its (start, end, kind, error) records."""
        self.phase.value = number
        self._wait_all(number, "begin")
        while not until():
            self._drain()
            time.sleep(0.1)
        self.phase.value = 0
        self._wait_all(0, "finish")  # each finishes its interaction under way
        time.sleep(0.2)
        self._drain()
        return self.log[number]

    def close(self) -> None:
        self.phase.value = -1
        for p in self.procs:
            p.join(30)
            if p.is_alive():
                p.kill()


def summarise(name: str, log: list) -> dict:
    ms = np.array([(e - s) * 1000 for s, e, _, err in log if err is None]) if log else np.array([])
    p = (lambda q: float(np.percentile(ms, q)) if len(ms) else float("nan"))
    kinds = defaultdict(list)
    for s, e, kind, err in log:
        kinds[kind].append((e - s) * 1000)
    return {"phase": name, "interactions": len(log), "errors": sum(1 for r in log if r[3]),
            "error_samples": [r[3] for r in log if r[3]][:5], "p50": p(50), "p90": p(90), "p99": p(99),
            "max": float(ms.max()) if len(ms) else float("nan"),
            "by_kind": {k: (len(v), float(np.median(v)), float(max(v))) for k, v in sorted(kinds.items())}}


def main() -> None:
    rows = int(_env("LOADTEST_ROWS", 2_000_000))
    base_rows = int(_env("LOADTEST_BASE_ROWS", 500_000))
    sessions = int(_env("LOADTEST_SESSIONS", 5))
    baseline_s, after_s = _env("LOADTEST_BASELINE_S", 60.0), _env("LOADTEST_AFTER_S", 30.0)
    think_s, seed = _env("LOADTEST_THINK_S", 0.5), int(_env("LOADTEST_SEED", 1))

    results, ingest, pool = [], {}, None
    with scratch_database("trips_load") as url:
        try:
            with tempfile.TemporaryDirectory() as d:
                base, big = os.path.join(d, "base.csv"), os.path.join(d, "big.csv")
                t = time.perf_counter()
                generate(base, base_rows, seed=seed)
                generate(big, rows, seed=seed + 1)
                print(f"generated {base_rows:,} + {rows:,} rows: {time.perf_counter() - t:.1f} s", flush=True)
                res = core.ingest_file(base, url=url)
                assert res.status == "completed", res
                print(f"base load: {res.rows_loaded:,} trips in {res.seconds:.1f} s "
                      f"({res.rows_loaded / res.seconds:,.0f} rows/s, no sessions)", flush=True)
                with raw_connection(url, autocommit=True) as conn, conn.cursor() as cur:
                    cur.execute("VACUUM (ANALYZE)")  # settled data for the baseline, not autovacuum's first pass
                pool = Sessions(sessions, url, seed, think_s)

                print(f"baseline: {sessions} sessions, {baseline_s:.0f} s, no ingest", flush=True)
                end = time.monotonic() + baseline_s
                results.append(summarise("baseline (no ingest)", pool.run(1, lambda: time.monotonic() > end)))

                print(f"during: ingest of {rows:,} rows by `python -m core ingest` in another process", flush=True)
                env = {**os.environ, "DATABASE_URL": url}
                for var in ("LOADER_DATABASE_URL", "READER_DATABASE_URL"):
                    env.pop(var, None)
                t_ingest = time.monotonic()
                ingest_log = open(os.path.join(d, "ingest.log"), "w+")  # its progress lines
                proc = subprocess.Popen([sys.executable, "-m", "core", "ingest", big, "--json"], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=ingest_log, text=True)
                running_seen = [t_ingest]  # times (monotonic) at which the job was still running

                def ingest_over() -> bool:
                    if proc.poll() is not None:
                        return True
                    asked = time.monotonic()
                    last = core.jobs(limit=1, url=url)[0]
                    if last["job_id"] != res.job_id and last["status"] in ("queued", "running"):
                        running_seen.append(asked)
                    return False

                log = pool.run(2, ingest_over)
                ingest_s = time.monotonic() - t_ingest
                ingest = {"seconds": ingest_s, "returncode": proc.returncode, "output": proc.stdout.read().strip()[-400:]}
                if proc.returncode:
                    ingest_log.seek(0)
                    print(f"the ingest failed ({proc.returncode}): {ingest['output']}\n{ingest_log.read()[-2000:]}")
                done = core.jobs(limit=1, url=url)[0]
                # Rows and state commit together: what ended before the last sight of the job running saw
                # the data before it.
                results.append(summarise("during the ingest", [r for r in log if r[1] <= running_seen[-1]]))
                results.append(summarise("  ended after commit", [r for r in log if r[1] > running_seen[-1]]))
                ingest["rows_per_s_alone"] = res.rows_loaded / res.seconds
                ingest["rows_per_s"] = done["rows_loaded"] / ingest_s
                print(f"ingest: {done['status']}, {done['rows_loaded']:,} rows, {ingest_s:.1f} s under load "
                      f"({ingest['rows_per_s']:,.0f} rows/s)", flush=True)

                print(f"after: {after_s:.0f} s on {core.stats(url=url)['trips']:,} trips", flush=True)
                end = time.monotonic() + after_s
                results.append(summarise("after the ingest", pool.run(3, lambda: time.monotonic() > end)))
        finally:
            if pool is not None:
                pool.close()

    _print(results, sessions, rows, base_rows, ingest)
    if os.environ.get("LOADTEST_JSON"):
        Path(os.environ["LOADTEST_JSON"]).write_text(json.dumps({"results": results, "ingest": ingest}, indent=1))
    if any(r["errors"] for r in results) or ingest.get("returncode"):
        sys.exit(1)


def _print(results: list, sessions: int, rows: int, base_rows: int, ingest: dict) -> None:
    print(f"\n{sessions} sessions on {base_rows:,} trips; ingest of {rows:,} rows took "
          f"{ingest.get('seconds', float('nan')):.1f} s under load, {ingest.get('rows_per_s', 0):,.0f} rows/s "
          f"(the base load alone: {ingest.get('rows_per_s_alone', 0):,.0f} rows/s)")
    print(f"{'phase':<22} {'interactions':>12} {'errors':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for r in results:
        print(f"{r['phase']:<22} {r['interactions']:>12} {r['errors']:>6} {r['p50']:>8.0f} {r['p90']:>8.0f} "
              f"{r['p99']:>8.0f} {r['max']:>8.0f}")
    print("\ninteractions x median / max ms, by kind (columns: the phases above)")
    kinds = sorted({k for r in results for k in r["by_kind"]})
    for k in kinds:
        cells = []
        for r in results:
            n, med, mx = r["by_kind"].get(k, (0, float("nan"), float("nan")))
            cells.append(f"{n:>3} x {med:>6.0f} / {mx:>6.0f}")
        print(f"  {k:<18} " + " | ".join(cells))
    for r in results:
        for e in r["error_samples"]:
            print(f"error ({r['phase']}): {e}")


if __name__ == "__main__":
    main()
