"""EXPLAIN (ANALYZE, BUFFERS) of every statement each answer of the query bench runs.

    BENCH_DATABASE_URL=... python -m bench.explain [CASE-SUBSTRING] > plans.txt

The statements are captured from the facade call itself (SQLAlchemy's before_cursor_execute), so
the plans are those of the SQL in sql/queries/*.sql with the parameters the facade binds. Each
answer runs once first (warm cache), then each of its statements is explained.
"""
from __future__ import annotations

import os
import sys

from core.db import dispose_all, engine
from sqlalchemy import event

from .queries import CASES, call

_SKIP = ("data_version", "pg_control_system", "FROM data_period")  # trivial lookups


def _name(statement: str) -> str:
    """The name of the query in sql/queries/ that a statement came from."""
    from core.queries import _all, pg

    flat = " ".join(statement.split())
    for name in _all():
        if " ".join(pg(name).split()) == flat:
            return name
    return flat[:120] + "..."


def plans(url: str, only: str | None = None):
    eng = engine(url)
    for name, _target, kind, kwargs in CASES:
        if only and only not in name:
            continue
        call(kind, kwargs, url)  # warm
        seen: list[tuple[str, dict]] = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            seen.append((statement, parameters))

        event.listen(eng, "before_cursor_execute", capture)
        try:
            call(kind, kwargs, url)
        finally:
            event.remove(eng, "before_cursor_execute", capture)
        out = []
        raw = eng.raw_connection()
        try:
            cur = raw.cursor()
            for statement, parameters in seen:
                body = "\n".join(l for l in statement.splitlines() if not l.lstrip().startswith("--"))
                if not body.lstrip().upper().startswith(("SELECT", "WITH")) or any(s in body for s in _SKIP):
                    continue
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                out.append((statement, parameters, [r[0] for r in cur.fetchall()]))
            raw.rollback()
        finally:
            raw.close()
        yield name, kwargs, out


def main() -> None:
    url = os.environ["BENCH_DATABASE_URL"]
    only = sys.argv[1] if len(sys.argv) > 1 else None
    try:
        for name, kwargs, out in plans(url, only):
            print(f"=== {name}  {kwargs}")
            for statement, parameters, plan in out:
                first = _name(statement)
                print(f"--- {first}...")
                print(f"    params: { {k: v for k, v in (parameters or {}).items() if v is not None} }")
                print("\n".join(plan))
            print()
    finally:
        dispose_all()


if __name__ == "__main__":
    main()
