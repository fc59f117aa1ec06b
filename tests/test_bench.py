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
