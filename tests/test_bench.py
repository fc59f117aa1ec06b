"""make bench, small: both benchmarks run to the end on a fresh database and every answer they time
equals its raw SQL, before and after compaction (the figures themselves are not asserted)."""
import json
import os
import subprocess
import sys

from bench.queries import CASES
from conftest import ROOT


def _run(module, env, **more):
    return subprocess.run([sys.executable, "-m", module], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env, **more})


def test_make_bench_runs_small_and_every_answer_it_times_is_exact(template_db, tmp_path):
    """Pass: `python -m bench.run` ingests its file whole and prints the ratio and the peak memory;
    `python -m bench.queries` times every case, each equal to its raw SQL before and after
    `compact`, and exits 0 (it exits 1, naming them, when an answer differs)."""
    server, _ = template_db
    env = {"DATABASE_URL": server, "BENCH_ROWS": "5000", "PYTHONPATH": str(ROOT)}
    ingest = _run("bench.run", env)
    assert ingest.returncode == 0, ingest.stderr
    assert "completed, 5,000 rows" in ingest.stdout and "speed relative to plain COPY: " in ingest.stdout
    assert "peak client memory (max RSS of this process" in ingest.stdout
    report = tmp_path / "bench.json"
    answers = _run("bench.queries", env, BENCH_RUNS="1", BENCH_BASELINE_RUNS="1", BENCH_JSON=str(report))
    assert answers.returncode == 0, answers.stdout[-3000:] + answers.stderr
    got = json.loads(report.read_text())
    assert got["trips"] == got["ingest"]["rows"] == 5000
    for key in ("queries", "queries_compacted"):
        assert [r["case"] for r in got[key]] == [c[0] for c in CASES]
        assert [r["case"] for r in got[key] if r["exact"] is not True] == [], key


def test_evenly_spread_trips_load_whole_and_keep_to_the_sample_cities(db_url, tmp_path):
    """Pass: bench.even's file (docs/SCALE.md, "Trips spread evenly") loads with no reject, its
    trips in the sample's three cities and two years, spread so evenly that most fine groups hold one
    trip, and the same seed writes the same file."""
    import core
    from bench.even import BOXES, write
    write(str(tmp_path / "a.csv"), 3_000, seed=5)
    write(str(tmp_path / "b.csv"), 3_000, seed=5)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    job = core.ingest_file(str(tmp_path / "a.csv"), url=db_url)
    assert (job.status, job.rows_loaded, job.rows_rejected) == ("completed", 3_000, 0)
    stats = core.stats(url=db_url)
    assert stats["trips"] == 3_000 and sorted(core.regions(url=db_url)) == sorted(BOXES)
    assert "2018-01-01" <= stats["first_datetime"][:10] and stats["last_datetime"][:10] <= "2019-12-31"
    from conftest import sql_rows
    outside = sql_rows(db_url, "SELECT count(*) FROM trips t JOIN regions r USING (region_id) JOIN (VALUES "
                       + ", ".join(f"('{n}', {w}, {e}, {s}, {nn})" for n, (w, e, s, nn) in BOXES.items())
                       + ") b (name, w, e, s, n) ON b.name = r.name WHERE NOT (ST_X(origin) BETWEEN w AND e"
                       " AND ST_Y(origin) BETWEEN s AND n AND ST_X(destination) BETWEEN w AND e"
                       " AND ST_Y(destination) BETWEEN s AND n)")[0][0]
    assert outside == 0
    groups = core.trip_groups(cell="fine", limit=5000, url=db_url)
    assert groups["total_trips"] == 3_000 and groups["total_groups"] > 2_900
