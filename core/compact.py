"""Compaction: fold the summaries' per-job rows into one row per key (sql/queries/compact.sql)."""
from __future__ import annotations

from .db import raw_connection
from .queries import pg

TABLES = ("daily_counts", "region_datasources", "flow_counts", "area_days")


def compact_summaries(url: str) -> dict[str, dict[str, int]]:
    """Compact every summary in one transaction, then VACUUM ANALYZE them; returns the rows of
    each table before and after."""
    with raw_connection(url) as conn:
        with conn.cursor() as cur:
            cur.execute(pg("compact_lock"))
            cur.execute(pg("summary_rows"))
            before = dict(zip([d[0] for d in cur.description], cur.fetchone()))
            for table in TABLES:
                cur.execute(pg(f"compact_{table}"))
            cur.execute(pg("summary_rows"))
            after = dict(zip([d[0] for d in cur.description], cur.fetchone()))
        conn.commit()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(pg("compact_vacuum"))
    return {t: {"before": int(before[t]), "after": int(after[t])} for t in TABLES}
