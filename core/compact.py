"""Compaction: fold the summaries' per-job rows into one row per key (sql/queries/compact.sql),
and keep the top groups of every level and bucket size, for everything, each region and each
datasource, all days, weekdays and weekend (sql/06_flow_top.sql, sql/09, sql/15, sql/16, sql/19),
with the totals of each hour for 1-hour buckets (sql/08_flow_top_hours.sql), and of each month
(sql/21_flow_top_months.sql; of each region and datasource: medium and coarse cells, 1-hour
buckets; fine cells: 1-hour buckets of everything only). Each level's groups of
every region and datasource are counted once (fine ones from the trips, medium and coarse ones from
flow_counts; a month's from its trips), and every list is cut from them."""
from __future__ import annotations

import functools
import itertools
import os
import shutil

from . import grid
from .db import raw_connection
from .errors import TripsError
from .queries import pg

TABLES = ("daily_counts", "region_datasources", "flow_counts", "area_days")
# Disk a compaction fills before its commit, per trip: the fine groups' temporary tables and the
# sorts that build them, the summaries' new rows (per stored trip), trip_times and pair_days (per
# trip copied: 65 and 27 bytes at 10M). At 100M (Dec 5, docs/SCALE.md) it took at most 28.7 GB,
# trip_times' 5.75 GB of it (before pair_days): these ask 40 GB.
SCRATCH_BYTES_PER_TRIP = 300
COPIED_BYTES_PER_TRIP = 100


def compaction_due(url: str) -> bool:
    """Whether the trips loaded since the last compaction are at least TRIPS_COMPACT_SHARE of those
    it folded (any at all before the first), or the trips it folded are not all in trip_times yet
    or have no month lists (a database compacted by a version before them). Below that share, the kept groups with the new
    rows added answer (core/groups.py), and folding every summary row again would cost more than
    it gains."""
    from .config import settings
    share = settings().compact_share
    if share <= 0:
        return False
    with raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute(pg("compaction_due"))
        folded, new, uncopied, months_missing, lists_missing = cur.fetchone()
    return uncopied or months_missing or lists_missing or (new > 0 and new >= share * folded)


def compact_summaries(url: str, progress=None) -> dict[str, dict[str, int]]:
    """Compact every summary in one transaction (one snapshot: REPEATABLE READ), keep the top
    groups (everything, each region, each datasource; all days, weekdays and weekend), then VACUUM
    ANALYZE; returns the rows of each table before and after. The trips of the completed jobs not
    yet in trip_times are copied there first, by month, region, datasource and time; nothing else is done when no job has
    completed since the last compaction (but for the month lists of a database compacted before
    there were any). One compaction at a time: a second waits for the first, then finds nothing
    new. ``progress``, if given, is called with a sentence at each step (at 100M it takes over an hour)."""
    import psycopg2

    with raw_connection(url, autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.execute(pg("compact_lock"))  # before the snapshot is taken: see compact.sql
        try:
            return _compact(conn, progress or (lambda step: None))
        finally:
            try:
                conn.rollback()
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(pg("compact_unlock"))
            except psycopg2.Error:  # the connection is gone, and its lock with it
                pass


def _compact(conn, progress) -> dict[str, dict[str, int]]:
    from .groups import BUCKET_HOURS, KEPT_DAYS
    conn.autocommit = False
    conn.set_session(isolation_level="REPEATABLE READ")
    with conn.cursor() as cur:
        cur.execute(pg("trip_times_missing"))
        jobs = cur.fetchone()[0]
        cur.execute(pg("compaction_new_jobs"))
        new_jobs = cur.fetchone()[0]
        _check_disk(cur, jobs, new_jobs)
        cur.execute(pg("compact_work_mem"))
        cur.execute(pg("summary_rows"))
        before = dict(zip([d[0] for d in cur.description], cur.fetchone()))
        # Trips by month, region, datasource and time (sql/17_trip_times.sql, sql/22): first, since
        # the fine lists read them, and even with nothing to fold (a database compacted before
        # trip_times existed).
        if jobs:
            progress(f"copying the trips of {len(jobs)} job(s) into trip_times, by month, region and datasource")
            cur.execute(pg("compact_trip_times"), {"jobs": jobs})
        cur.execute(pg("compaction_due"))
        months_missing, lists_missing = cur.fetchone()[3:]
        if new_jobs == 0 and not lists_missing:
            # Nothing to fold; a database compacted before the month lists existed gets them (one
            # whose lists of all dates lack what they keep since, sql/33: every list, below).
            if months_missing:
                cur.execute(pg("compact_month_lists_clear"))  # (those of medium and coarse cells, if any)
                _keep_month_lists(cur, progress, *_list_owners(cur))
            conn.commit()
            if jobs or months_missing:
                conn.autocommit = True
                cur.execute(pg("compact_vacuum"))
            return {t: {"before": int(before[t]), "after": int(before[t])} for t in TABLES}
        progress("folding the summaries' rows into one per key")
        for table in TABLES:
            cur.execute(pg(f"compact_{table}"))
        cur.execute(pg("compact_flow_top_clear"))
        regions, sources = _list_owners(cur)
        # (region_id, datasource_id): all of both (0), each region, each datasource
        contexts = [(0, 0)] + [(rid, 0) for rid in regions] + [(0, did) for did in sources]
        for cell, level in grid.LEVELS.items():
            # each level's groups per hour, region and datasource, in one pass: fine ones counted
            # from the trips, medium and coarse ones summed from flow_counts
            progress(f"counting the {cell}-cell groups of every region and datasource")
            cur.execute(pg("compact_level_hours"))
            cur.execute(pg("compact_fine_hours" if level == 0 else "compact_summary_hours"), {"level": level})
            cur.execute(pg("compact_level_index"))
            for hours in BUCKET_HOURS:
                progress(f"keeping the top groups of {cell} cells, {hours}-hour buckets "
                         f"({len(contexts) * len(KEPT_DAYS):,} lists)")
                for region_id, datasource_id in contexts:
                    _keep_days(cur, "compact_context", {
                        "level": level, "region_id": region_id, "datasource_id": datasource_id, "month": None}, hours)
        _keep_month_lists(cur, progress, regions, sources)
        cur.execute(pg("compact_state"))
        cur.execute(pg("summary_rows"))
        after = dict(zip([d[0] for d in cur.description], cur.fetchone()))
    progress("committing")
    conn.commit()
    conn.autocommit = True
    with conn.cursor() as cur:
        progress("committed; VACUUM ANALYZE of the summaries")
        cur.execute(pg("compact_vacuum"))
        cur.execute(pg("compact_resummarize"))
    return {t: {"before": int(before[t]), "after": int(after[t])} for t in TABLES}


def _list_owners(cur) -> tuple[list[int], list[int]]:
    """The regions that keep lists of their own (those with at least TRIPS_LIST_MIN_TRIPS trips)
    and the datasources (all of them)."""
    from .config import settings
    cur.execute(pg("compact_regions"), {"min_trips": settings().list_min_trips})
    regions = [rid for rid, in cur.fetchall()]
    cur.execute(pg("compact_datasources"))
    return regions, [did for did, in cur.fetchall()]


def _keep_month_lists(cur, progress, regions: list[int], sources: list[int]) -> None:
    """The top groups of each month, with their totals per hour (sql/21_flow_top_months.sql),
    counted from trip_times: of each level and bucket size in core.groups.MONTH_LISTS for
    everything, and in NAMED_MONTH_LISTS for each region in ``regions`` and each datasource in
    ``sources``; and the month's counts of the groups of the lists of all dates of the levels in
    MONTH_COUNT_LEVELS: of everything, every bucket size, and of each region in ``regions`` and each
    datasource in ``sources``, 1-hour buckets (sql/31_list_month_counts.sql, sql/32)."""
    from .groups import BUCKET_HOURS, MONTH_COUNT_LEVELS, MONTH_LISTS, NAMED_MONTH_LISTS
    cur.execute(pg("compact_months"))
    months = [m for m, in cur.fetchall()]
    named = [(rid, 0) for rid in regions] + [(0, did) for did in sources]
    for i, month in enumerate(months):
        if i % 12 == 0:
            progress(f"keeping the top groups of each month (months {i + 1}-{min(i + 12, len(months))} of {len(months)})")
        cur.execute(pg("compact_month_hours"), {"month": month, "regions": regions})
        # (the lists of all dates are kept by now): those kept long (_long_list)
        for level, hours, (region_id, datasource_id) in itertools.product(MONTH_COUNT_LEVELS, BUCKET_HOURS, [(0, 0)] + named):
            if _long_list(level, hours, region_id, datasource_id):
                cur.execute(pg("compact_list_month_counts"), {"level": level, "bucket_hours": hours, "month": month,
                                                              "region_id": region_id, "datasource_id": datasource_id})
        for level, sizes in MONTH_LISTS.items():
            for hours in sizes:
                for region_id, datasource_id in [(0, 0)] + (named if hours in NAMED_MONTH_LISTS.get(level, ()) else []):
                    _keep_days(cur, "compact_month_context", {
                        "level": level, "region_id": region_id, "datasource_id": datasource_id, "month": month}, hours)


def _keep_days(cur, context: str, ids: dict, bucket_hours: int) -> None:
    """The lists of the groups the named query ``context`` gives (compact_context,
    compact_month_context) for all days, weekdays and weekend, and with 1-hour buckets the totals
    of each hour, in one statement that reads the groups once; ``ids``: their level, region_id,
    datasource_id and month."""
    from .groups import KEPT_TOP, PROOF_TOP_FACTOR
    long = ids["month"] is None and _long_list(ids["level"], bucket_hours, ids["region_id"], ids["datasource_id"])
    limit = KEPT_TOP * PROOF_TOP_FACTOR if long else KEPT_TOP
    cur.execute(_with_context("compact_keep_days", context), {**ids, "bucket_hours": bucket_hours, "limit": limit})


def _long_list(level: int, bucket_hours: int, region_id: int, datasource_id: int) -> bool:
    """Whether the list of all dates of this level, bucket size and context (0, 0: everything) keeps
    PROOF_TOP_FACTOR times KEPT_TOP groups (core/groups.py): those of the levels in PROOF_LEVELS,
    of 1-hour buckets, and of every bucket size of everything. Their months are counted too."""
    from .groups import PROOF_LEVELS
    return level in PROOF_LEVELS and (bucket_hours == 1 or region_id == datasource_id == 0)


def _check_disk(cur, uncopied_jobs: list[int], new_jobs: int) -> None:
    """Refuse, before starting, a compaction the server's disk has no room for (at 100M one ran
    out of space after an hour, and rolled back). Only for a server on this machine whose data
    directory this user may see (the project's own cluster): others are not checked."""
    cur.execute(pg("compaction_scratch"), {"jobs": uncopied_jobs})
    data_directory, trips, uncopied = cur.fetchone()
    data_directory = local_data_directory(cur.connection, data_directory)
    if data_directory is None:
        return
    counted = trips if new_jobs else uncopied
    need = (SCRATCH_BYTES_PER_TRIP * trips if new_jobs else 0) + COPIED_BYTES_PER_TRIP * uncopied
    free = shutil.disk_usage(data_directory).free
    if free < need:
        raise TripsError(
            f"compaction needs about {need / 1e9:.1f} GB of free disk for its work on {counted:,} trips, and the "
            f"database's disk ({data_directory}) has {free / 1e9:.1f} GB free: nothing was changed. Free some "
            "space there and run it again (python -m core compact)")


def local_data_directory(conn, data_directory: str | None) -> str | None:
    """The server's data directory when the server runs on this machine (a Unix socket or a loopback
    address) and it is there; else None."""
    host = conn.info.host or ""
    local = host.startswith("/") or host in ("localhost", "127.0.0.1", "::1")
    return data_directory if local and data_directory and os.path.isdir(data_directory) else None


@functools.lru_cache(maxsize=None)
def _with_context(name: str, context: str) -> str:
    """The named query with the named query of a context's groups in its one ``{context}``: the
    lists and their totals are written on the server, with no round trip through Python."""
    text = pg(name)
    assert text.count("{context}") == 1, f"{name} has one place for the context"
    return text.replace("{context}", pg(context))
