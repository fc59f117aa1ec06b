"""Similar-trip groups: same origin cell, same destination cell, same bucket of the time of day.

Medium and coarse groups without a date range come from the flow_counts summary (a range that
takes in every trip stored is no range); fine groups and date ranges count the raw trips (one fine
cell id is stored per trip end): those of the period (trip_times, kept by compaction by month, region,
datasource and time),
and every trip of the jobs completed since. Groups with no other filter than regions, weekdays or weekend
(and hours of the day that are whole buckets), or datasources, are read
from the top groups that compaction keeps (flow_top) for everything, each region and each
datasource (several: their lists summed), with the rows of the jobs completed since added in,
whenever that proves the answer exact, once the groups whose counts the lists know only within a
range are recounted from their trips where that is all the proof lacks (a region with too few
trips for lists of its own, see TRIPS_LIST_MIN_TRIPS, has its trips counted and added in); so is a date range (with regions or
datasources: in medium and coarse cells and 1-hour buckets), from the lists kept of each month
(MONTH_LISTS, NAMED_MONTH_LISTS) with the days around them counted. Groups that would be
counted from the trips are counted only for the groups of the kept lists of all days (of
everything, or of each region or datasource named) where that proves them
(core/groups_within.py). A date range of all regions and datasources, or of one region or one
datasource in 1-hour buckets (hours of the day in whole buckets only), is first read from the
counts in each month of the groups of its list of all dates
(core/groups_months.py), when they prove it; so are hours of the day that are not whole buckets,
from the 1-hour list of all dates of everything, one region or one datasource (over a date range,
its month counts), summed by bucket (core/groups_hours.py). ``source`` says which ("kept", "kept+new", "summary" or "trips").
The SQL is in sql/queries/groups.sql.
"""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, replace
from typing import ClassVar

from sqlalchemy import Engine

from . import grid
from .db import snapshot
from .errors import InvalidFilter, RawCountNeeded
from .filters import Filters
from .groups_hours import hours_summed, months_hours_summed
from .groups_months import month_counted
from .groups_within import Group, within_list
from .queries import query

BUCKET_HOURS = (1, 2, 3, 4, 6, 24)
DEFAULT_LIMIT, MAX_LIMIT = 1000, 5000
KEPT_TOP = MAX_LIMIT  # groups kept per level, bucket size, region and days by compaction
# The fine lists of all dates with 1-hour buckets keep this many times more: the answers counted
# from the trips are counted for these lists' groups only when the lists prove them (their least
# counts under the answer's last group, core/groups_within.py), and a fine answer's 1,000th group
# counts little. At 10M, cheap_mobile's 5,000th fine group counted 25 trips, its 20,000th 12, and
# its year's 1,000th 20-22; the weekend lists of everything 16 and 8 against a year's weekends 13.
# So do the medium and coarse ones (PROOF_LEVELS), and those of everything of every bucket size,
# whose months are counted too (MONTH_COUNT_LEVELS):
# at 10M the medium list of everything's 5,000th group counted 305 trips, more than the 1,000th of
# 16 Jun-15 Jan (269), which the month counts could then not prove; its 20,000th counts 58.
# Every other reader takes the first KEPT_TOP of them (groups_kept_and_new), as before.
PROOF_TOP_FACTOR = 4
PROOF_LEVELS = (0, 1, 2)
KEPT_DAYS = {"all": 0, "weekdays": 1, "weekend": 2}  # flow_top.days (sql/06_flow_top.sql)
# For the groups query's transaction only: every group is hashed (about 1M medium groups, 170 MB,
# at 10M trips); with the server's 64 MB the hash table spilled to disk in batches (docs/SCALE.md).
_WORK_MEM = "256MB"
_MAX_LISTS = 63  # kept lists summed in one answer (one bit each in groups_kept_and_new); names
# are counted as given, unknown ones too
# The month lists compaction keeps (sql/21_flow_top_months.sql): the bucket sizes of each level
# (0 fine, 1 medium, 2 coarse), of everything. Fine groups are so even that the lists of two
# months or more leave hundreds of the answer's groups known only within a range: they are
# recounted from the period's trips (_RECOUNT_PERIOD_MAX), still a fraction of counting every
# fine group (at 10M, a year 0.61-0.75 s against 4.0-4.6 s). Fine lists were kept of 1-hour buckets
# only until Dec 7 (a quarter's fine groups in 3-hour buckets were counted: 0.6 s at 10M); each
# other bucket size costs about 0.27 s of compaction a month at 10M (sql/queries/compact.sql).
MONTH_LISTS = {0: BUCKET_HOURS, 1: BUCKET_HOURS, 2: BUCKET_HOURS}
# The levels whose lists of all dates of everything (every bucket size; all days, weekdays, weekend),
# and of each region and datasource (1-hour buckets), compaction also counts in each month
# (sql/31_list_month_counts.sql, sql/32): a date range's groups are
# read from them first (core/groups_months.py). At 1M, groups of a year: fine 112-198 ms against
# 468-820 ms, coarse 97 against 260 ms (side by side, Dec 6).
MONTH_COUNT_LEVELS = (0, 1, 2)
# Those of each region and datasource: medium and coarse cells, 1-hour buckets (each bucket size
# would cost as much compaction again: at 10M, the month lists took 411 s with all six, 146-176 s
# with these, 78 s without; docs/SCALE.md). Read without hours of the day: a list's least count is of any hour, and
# a region's or datasource's groups of a few hours over months seldom came out proved (at 10M a
# failed try cost up to 400 ms more than counting the trips); nor were those of several
# datasources, whose trips share the same streets (the least counts of all their lists add up),
# so one datasource at most (regions lie apart: theirs prove).
NAMED_MONTH_LISTS = {1: (1,), 2: (1,)}
# A region's or datasource's period with fewer trips than this is counted (at 1M, a datasource's
# year, 130k trips: 94-105 ms counted, 290 ms when its month lists were tried first and did not
# prove it; at 10M, 1.25M trips: 1.2 s counted, 0.17 s from its lists).
_NAMED_MONTHS_MIN_TRIPS = 150_000
# Regions without kept lists: up to this many raw trips are counted (a region's lie in one stretch
# of trip_times a month) rather than summing every summary row of the level (about 1M rows at 10M
# trips: 245 ms). A region without lists has fewer than TRIPS_LIST_MIN_TRIPS (100k) trips: this
# reads it alone, and sums the summary when a large region is named with it (at 1M, a small region
# with one of 125k trips: 210 ms counted, 157 ms summed; black-box check, Dec 6).
_RAW_REGIONS_READ = 150_000
# Groups recounted from the raw trips (through their cell indexes) when the kept lists know their
# counts only within a range and so cannot prove an answer: up to this many, of fine and medium
# cells (a coarse cell holds 16 medium ones' trips); past it, the trips are counted instead. At
# 10M, a medium group of a busy cell over a year took 16-57 ms (a region's year: 3 recounted in
# 100 ms, the answer in 191-201 ms against 511-677 ms counted; 12 in 661-688 ms). A date range
# recounts up to _RECOUNT_PERIOD_MAX from its period's trips instead (of a region or datasource,
# its own stretches of trip_times; only the trips of the groups' cells hashed): at 10M a region's year
# with 12 such groups 201 ms (477 ms counted), a datasource's with 138 290 ms (342 ms); 1,379 (a
# region's top 2,000) took longer than counting (578 against 318 ms). Fine cells' are recounted
# whatever their number (up to twice MAX_LIMIT): counting hashes millions of fine groups (at 10M
# a year's 1,094 recounted in 474-526 ms, where counting took 4.0-4.6 s).
_RECOUNT_MAX = 4
# Groups counted from the trips are counted only for the groups of kept lists (core/groups_within.py)
# when the period's trips (of the regions and datasources named) are at least this many, by level:
# the hash join costs about as much a trip as a hash aggregation of medium or coarse groups, and
# saves the hashing of fine ones. At 10M: fine, a region and a datasource (726k trips) 151-169 ms
# against 634-656 ms counted; medium, two datasources over a year (1.74M) 389 against 786 ms, but
# a region and three datasources over 16 months 201 against 143 ms, coarse groups always slower
# (243 against 135 ms); fine groups of a few weeks 62 against 39 ms.
_WITHIN_MIN_TRIPS = {0: 100_000, 1: 1_000_000}
# ... and counted for the lists' longer lengths (PROOF_TOP_FACTOR times KEPT_TOP groups, fine
# lists of 1-hour buckets) from this many: the more groups, the slower the join, and a try they
# do not prove costs about as much as it would save (at 10M, Berlin's weekends of a year, 140k
# trips: 259 ms counted, 470-640 ms after a failed try; cheap_mobile's year, 1.25M trips: 1.37 s
# counted, 0.56-0.69 s proved).
_WITHIN_LONG_MIN_TRIPS = 500_000
_RECOUNT_PERIOD_MAX = {0: 2 * MAX_LIMIT, 1: 200, 2: 200}
_RECOUNT_LEVELS = (0, 1)
_LEVEL_NAMES = {level: name for name, level in grid.LEVELS.items()}


def trip_groups(eng: Engine, *, cell: str = "medium", bucket_hours: int = 1, limit: int = DEFAULT_LIMIT,
                count_raw_above: int | None = None, **filters) -> dict:
    """The top ``limit`` groups by trips, with ``total_trips`` (trips matching the filters, the
    sum over all groups) and ``total_groups`` (None when the kept groups with jobs loaded since
    bound it but do not know it: ``total_groups_bounds`` gives the range). Filters: see
    :class:`core.filters.Filters`. With ``count_raw_above``, an answer that would count more raw
    trips than that (seconds per 10M) raises :class:`RawCountNeeded` instead: the caller asks."""
    if cell not in grid.LEVELS:
        raise InvalidFilter(f"cell must be one of {', '.join(grid.LEVELS)}, not {str(cell)[:40]!r}")
    try:
        bucket_hours, limit = int(bucket_hours), int(limit)
    except (TypeError, ValueError):
        raise InvalidFilter("bucket hours and limit must be whole numbers") from None
    if bucket_hours not in BUCKET_HOURS:
        raise InvalidFilter(f"bucket hours must be one of {', '.join(map(str, BUCKET_HOURS))}")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidFilter(f"limit must be between 1 and {MAX_LIMIT}")
    asked = Filters.make(**filters)
    level = grid.LEVELS[cell]
    with snapshot(eng) as c:
        ids = dict(c.execute(query("filter_ids"), asked.params()).one()._mapping)  # (the dates play no part)
        f, period = _period_dropped_if_whole(c, asked)
        params = {**f.params(), "level": level, "bucket_hours": bucket_hours, "limit": limit, **MonthPlan.none, **ids,
                  "o_cells": None, "d_cells": None}
        rows, months, state = None, None, None
        counted = _month_counted(c, params, f, period, count_raw_above)
        if counted is not None:
            (rows, total_groups), source = counted, "kept"
        else:
            months, state = _plan(c, level, bucket_hours, limit, f, period, ids)
        if state is not None:
            if count_raw_above is not None and months:  # the days counted around the months, the jobs loaded since
                read = c.execute(query("raw_trips_read"), {**params, **months.params(), "raw_jobs": state.new_jobs}).scalar()
                if read > count_raw_above:
                    raise RawCountNeeded(read)
            # (fine cells: the jobs loaded since are added from their raw trips, which count against the cap)
            elif count_raw_above is not None and level == 0 and state.new_trips > count_raw_above:
                raise RawCountNeeded(state.new_trips, since_compaction=True)
            rows, total_groups = _kept(c, {**params, "days": KEPT_DAYS[f.days], "new_jobs": state.new_jobs,
                                           "unlisted_regions": state.unlisted_regions,
                                           **(months.params() if months else {})})
            source = "kept" if not state.new_jobs else "kept+new"
        if rows is None and f.hours is not None:  # (hours of the day the kept lists did not answer)
            counted = _hours_summed(c, params, f)
            if counted is not None:
                (rows, total_groups), source = counted, "kept"
        if rows is None:
            # the jobs whose trips compaction has not yet copied (trip_times): read raw if at all
            raw_jobs = c.execute(query("trip_times_missing")).scalar() if level == 0 or f.dated or f.regions else None
            raw = level == 0 or f.dated or _small_regions(c, level, f, raw_jobs)
            read = None  # the raw trips the count would read, once asked for
            if raw:
                params["raw_jobs"] = raw_jobs
                if count_raw_above is not None:
                    read = c.execute(query("raw_trips_read"), params).scalar()
                    if read > count_raw_above:
                        raise RawCountNeeded(read)
            source = "trips" if raw else "summary"
            ready = _within_ready(c, level, f, params, read) if raw else None
            if ready is not None:  # (the trips the count reads)
                rows, total_groups = within_list(c, {**params, "days": KEPT_DAYS[f.days]},
                                                 long_lists=ready >= _WITHIN_LONG_MIN_TRIPS) or (None, None)
        if rows is None:
            if raw:
                c.execute(query("groups_parallel_setup"))
            else:
                c.execute(query("groups_work_mem"), {"work_mem": _WORK_MEM})
            rows = c.execute(query("groups_from_trips" if raw else "groups_from_summary"), params).all()
            total_groups = (int(rows[0].total_groups),) * 2 if rows else (0, 0)
    total = int(rows[0].total_trips) if rows else 0
    groups = []
    for r in rows:
        o, d, start = int(r.o_cell), int(r.d_cell), int(r.bucket) * bucket_hours
        groups.append({
            "origin_cell": grid.label(o, cell), "destination_cell": grid.label(d, cell),
            "origin": grid.centre(o, cell), "destination": grid.centre(d, cell),
            "bucket": f"{start:02d}:00-{start + bucket_hours:02d}:00", "bucket_start_hour": start,
            "trips": int(r.trips), "share": int(r.trips) / total if total else 0.0,
        })
    return {
        "cell": cell, "cell_size_deg": grid.SIZE_DEG[cell], "bucket_hours": bucket_hours,
        "source": source, "filters": _jsonable(asked),
        "total_trips": total, "total_groups": total_groups[0] if total_groups[0] == total_groups[1] else None,
        "total_groups_bounds": list(total_groups),
        "groups": groups,
    }


def _month_counted(c, params: dict, f: Filters, period: tuple, count_raw_above: int | None):
    """A date range's groups of all regions and datasources, or of one region or one datasource
    (1-hour buckets; hours of the day only in whole buckets: whole_buckets), of the levels in
    MONTH_COUNT_LEVELS, from the month counts of that context's list of all dates of its bucket
    size (core/groups_months.py); with hours that are not whole buckets, from those of its 1-hour
    list, summed by bucket (core/groups_hours.py, any bucket size); when
    they prove the answer: (groups, bounds of the number of groups); else None. Only when compacted
    with no job loaded since, the range takes in two months or more (whole, or most of them), and
    the days around them are no more raw trips than ``count_raw_above``."""
    level, context = params["level"], _one_context(params, f)
    if not f.dated or level not in MONTH_COUNT_LEVELS or context is None:
        return None
    # hours that are not whole buckets: the 1-hour groups' counts summed (core/groups_hours.py);
    # else those of the list of the bucket size (a bucket's count is of all its hours)
    part_buckets = not whole_buckets(f.hours, params["bucket_hours"])
    if not part_buckets and context != (0, 0) and params["bucket_hours"] != 1:  # (a region's or datasource's: 1-hour lists)
        return None
    months = MonthPlan.of(f, *period)
    if len(months.months) < 2:  # (a month's own list answers as quickly, with no try that may fail)
        return None
    # (the months' totals are those of their medium lists, kept for every context: groups_month_counts)
    state = c.execute(query("groups_kept_state"), {
        "level": 1, **{k: f.params()[k] for k in ("regions", "datasources")}, "months": list(months.months),
        "bucket_hours": 1, "bucket_totals": 1}).one()
    if not state.compacted or state.new_jobs:
        return None
    plan = {**params, **months.params(), "days": KEPT_DAYS[f.days],
            "list_region": context[0], "list_datasource": context[1]}
    if count_raw_above is not None and months.edges:
        if c.execute(query("raw_trips_read"), {**plan, "raw_jobs": []}).scalar() > count_raw_above:
            return None
    return months_hours_summed(c, plan) if part_buckets else month_counted(c, plan)


def _hours_summed(c, params: dict, f: Filters):
    """Groups of all dates with hours of the day, of all regions and datasources, one region or
    one datasource, of the levels in PROOF_LEVELS, from the whole 1-hour list of all dates of that
    context (core/groups_hours.py), when it proves them: (groups, bounds of the number of groups);
    else None. For hours that are not whole buckets, and for those the kept lists did not prove
    (they read the first KEPT_TOP groups of a list). Only when compacted with no job loaded since."""
    context = _one_context(params, f)
    if f.dated or context is None or params["level"] not in PROOF_LEVELS:
        return None
    state = c.execute(query("groups_kept_state"), {
        "level": params["level"], "regions": f.params()["regions"], "datasources": f.params()["datasources"],
        "months": None, "bucket_hours": 1, "bucket_totals": 1}).one()
    if not state.compacted or state.new_jobs or state.unlisted_regions:
        return None
    return hours_summed(c, {**params, "days": KEPT_DAYS[f.days],
                            "list_region": context[0], "list_datasource": context[1]})


def _one_context(params: dict, f: Filters) -> tuple[int, int] | None:
    """The (region_id, datasource_id) of the one list that the filters' regions and datasources
    name, 0 for all: none named, one region or one datasource; None for more, or a name unknown
    (``params``: with filter_ids' ids)."""
    named = len(f.regions or ()) + len(f.datasources or ())
    ids = (params["region_ids"] or []) + (params["datasource_ids"] or [])
    if named > 1 or len(ids) != named:
        return None
    return (params["region_ids"][0] if f.regions else 0, params["datasource_ids"][0] if f.datasources else 0)


def whole_buckets(hours, bucket_hours: int) -> bool:
    """Whether the hours of the day asked (None: all) are whole buckets of ``bucket_hours``: every
    bucket with one of them has all its hours asked (any hours, with 1-hour buckets). A bucket's
    trips in such hours are then all its trips."""
    if hours is None:
        return True
    buckets = {h // bucket_hours for h in hours}
    return set(hours) == {b * bucket_hours + i for b in buckets for i in range(bucket_hours)}


def _plan(c, level: int, bucket_hours: int, limit: int, f: Filters, period: tuple, ids: dict):
    """(the months of the filters' date range whose lists may answer (a MonthPlan), the kept
    lists' state when they may answer); ``f``: the filters as answered, ``period``: the first and
    last day of the trips stored (_period_dropped_if_whole).
    Compaction keeps the answers with no date range for everything, each region and each datasource,
    all days, weekdays or weekend, and hours of the day that are whole buckets (whole_buckets; their
    buckets' totals are kept, sql/33): several regions or
    datasources merge their lists; and of each month, all days, weekdays or weekend (and hours, as
    above), of the levels and bucket sizes in MONTH_LISTS for everything, and in NAMED_MONTH_LISTS
    for each region and datasource: a date range merges the lists of its months (of each region or
    datasource named; fine cells: those of everything), the days around them counted."""
    months = None
    if not f.dated:
        kept = (not (f.regions and f.datasources) and len(f.regions or f.datasources or ()) <= _MAX_LISTS
                and whole_buckets(f.hours, bucket_hours))
    else:
        months = MonthPlan.of(f, *period)
        named = len(f.regions or f.datasources or ())
        if named:  # a region's or datasource's lists: no hours of the day, one datasource at most
            listed = (bucket_hours in NAMED_MONTH_LISTS.get(level, ()) and f.hours is None
                      and len(f.datasources or ()) <= 1)
        else:
            listed = bucket_hours in MONTH_LISTS[level] and whole_buckets(f.hours, bucket_hours)
        kept = (listed and not (f.regions and f.datasources)
                and 0 < len(months.months) and len(months.months) * max(named, 1) <= _MAX_LISTS)
        if kept and named:  # the trips a count would read (``ids``: those of filter_ids)
            kept = c.execute(query("raw_trips_read"), {
                **f.params(), **ids, **MonthPlan.none, "raw_jobs": []}).scalar() >= _NAMED_MONTHS_MIN_TRIPS
        elif kept and level == 0 and len(months.months) > 1:  # fine groups over months: the lists' depth
            kept = c.execute(query("fine_months_hopeful"), {
                "months": list(months.months), "bucket_hours": bucket_hours, "days": KEPT_DAYS[f.days],
                "limit": limit}).scalar()
    if kept:
        state = c.execute(query("groups_kept_state"), {
            "level": level, "regions": f.params()["regions"], "datasources": f.params()["datasources"],
            "months": list(months.months) if months else None,
            "bucket_hours": bucket_hours, "bucket_totals": 1 if f.hours is None else bucket_hours}).one()
        # (a region without lists has its trips counted over the whole range: not with months,
        # whose days around are counted as well)
        if state.compacted and not (months and state.unlisted_regions):
            return months, state
    return None, None


def _within_ready(c, level: int, f: Filters, params: dict, read: int | None) -> int | None:
    """The trips to count (raw_trips_read; ``read`` when already asked), when groups to be counted
    from the trips may be counted for the groups of kept lists only (core/groups_within.py): of
    fine or medium cells and enough trips (_WITHIN_MIN_TRIPS), and the lists and trip_times hold
    every trip (compacted, no job since); else None."""
    if level not in _WITHIN_MIN_TRIPS or params["raw_jobs"]:
        return None
    if read is None:
        read = c.execute(query("raw_trips_read"), params).scalar()
    if read < _WITHIN_MIN_TRIPS[level]:
        return None
    named = f.params()
    state = c.execute(query("groups_kept_state"), {
        "level": level, "regions": named["regions"], "datasources": named["datasources"], "months": None,
        "bucket_hours": params["bucket_hours"], "bucket_totals": 1}).one()
    return read if state.compacted and not state.new_jobs else None


def _small_regions(c, level: int, f: Filters, raw_jobs) -> bool:
    """Whether the medium or coarse groups of the regions named are counted from their trips: when
    one of them has no kept lists (compaction keeps none of a region with fewer than
    TRIPS_LIST_MIN_TRIPS trips) and their trips, with those of the jobs not yet in trip_times, are
    few enough (_RAW_REGIONS_READ) to be read more quickly than every summary row of the level
    (also when the kept lists were read but could not prove the answer)."""
    if not f.regions:
        return False
    read = c.execute(query("unlisted_regions_read"), {
        "level": level, "regions": f.params()["regions"], "raw_jobs": raw_jobs}).scalar()
    return read is not None and read <= _RAW_REGIONS_READ


def groups_count(res: dict) -> str:
    """``total_groups`` for people: the number, or its range while it is not known exactly."""
    lo, hi = res["total_groups_bounds"]
    return f"{lo:,}" if lo == hi else f"{lo:,} to {hi:,}"


def _kept(c, params: dict) -> tuple[list | None, tuple[int, int]]:
    """The kept top groups of the lists asked for, summed, with the jobs completed since merged in
    (groups_kept_and_new), and the bounds of the number of groups (equal when it is known);
    ``None`` rows when the lists cannot prove the answer exact, even with the groups they know
    only within a range recounted where that is quick (the caller aggregates)."""
    answer = c.execute(query("groups_kept_and_new"), {**params, "kept_top": KEPT_TOP}).all()
    top, seen = answer[0], [r for r in answer if r.o_cell is not None]
    limit = params["limit"]
    rows = [r for r in seen if r.rank <= limit]  # (then the groups past them that may reach the last)
    if top.inconsistent:
        return None, (0, 0)
    if not top.incomplete:  # the lists keep every group: every count is exact
        return rows, (top.seen_groups,) * 2
    if len(rows) < limit:  # a group outside the lists may belong to the answer
        return None, (0, 0)
    # Each answer row must know its count, and no group outside them may reach the last one.
    last = rows[-1].trips
    # the groups whose counts the lists know only within a range (in a list or a new job): the
    # answer's, and those past it that may reach its last (groups_kept_and_new returns every one
    # whose most reaches it)
    unsure = [r for r in seen if r.most > r.trips]
    # a group in no list and no new job: with one list it comes after the list among equals, so the
    # last row may equal its most (that row is then a listed one: a group only of the new jobs lies
    # in its list's extent, which counts every job's trips, so it is not known exactly).
    # (a partial month's list is ordered by the month's counts, not the range's: no such tie)
    unseen_below = last >= top.unseen_max if top.lists == 1 and not top.partial else last > top.unseen_max
    if unsure or not unseen_below:
        # Recounted, the unsure groups prove it when no group in no list can reach its last either
        # (which recounting only raises); every other group counts less than that last.
        if not last > top.unseen_max:
            return None, (0, 0)
        level = params["level"]
        if level in _RECOUNT_LEVELS and len(unsure) <= _RECOUNT_MAX:
            exact = _recounted_by_cells(c, params, unsure)
        elif params["months"] is not None and len(unsure) <= _RECOUNT_PERIOD_MAX[level]:  # a date range
            exact = _recounted_in_period(c, params, unsure)
        else:
            return None, (0, 0)
        groups = (Group(r.o_cell, r.d_cell, r.bucket, exact.get((r.o_cell, r.d_cell, r.bucket), r.trips), r.total_trips)
                  for r in seen)
        rows = sorted((g for g in groups if g.trips > 0), key=lambda g: (-g.trips, g.o_cell, g.d_cell, g.bucket))[:limit]
        if len(rows) < limit or rows[-1].trips <= top.unseen_max:  # (never, as argued above)
            return None, (0, 0)
    low = max(top.seen_groups, top.listed_groups_sum if top.disjoint else top.listed_groups_max)
    return rows, (low, top.listed_groups_sum + top.unlisted_groups)


def _recounted_by_cells(c, params: dict, unsure: list) -> dict:
    """The exact trips of each group ``unsure``, one at a time through the trips' cell indexes
    (group_recount)."""
    level = _LEVEL_NAMES[params["level"]]
    return {(r.o_cell, r.d_cell, r.bucket): c.execute(query("group_recount"), {
        **params, "o_fine": grid.fine_cells_of(r.o_cell, level), "d_fine": grid.fine_cells_of(r.d_cell, level),
        "bucket": r.bucket}).scalar() for r in unsure}


def _recounted_in_period(c, params: dict, unsure: list) -> dict:
    """The exact trips of the groups ``unsure`` over a date range: the period's trips in trip_times
    (of the regions or datasources named: their stretches of each month) and the jobs loaded
    since, only those of the groups' cells hashed (groups_from_trips)."""
    o_cells, d_cells = sorted({r.o_cell for r in unsure}), sorted({r.d_cell for r in unsure})
    c.execute(query("groups_parallel_setup"))
    rows = c.execute(query("groups_from_trips"), {
        **params, "raw_jobs": params["new_jobs"], "o_cells": o_cells, "d_cells": d_cells,
        "limit": len(o_cells) * len(d_cells) * (24 // params["bucket_hours"])}).all()  # (every group of them)
    wanted = {(r.o_cell, r.d_cell, r.bucket) for r in unsure}
    counts = {(int(r.o_cell), int(r.d_cell), int(r.bucket)): int(r.trips) for r in rows}
    return {k: counts.get(k, 0) for k in wanted}


@dataclass(frozen=True)
class MonthPlan:
    """How a date range is read from the month lists: the months whose lists are summed (``months``,
    their first days), whether each is only partly in the range (``partial``), and the days whose
    trips are counted from trip_times (``edges``: first day, last day, and +1 to add them, or -1 to
    take them out of a partial month's list). A month takes its list when most of its days are in
    the range; its days outside are then taken out (the list's counts are the month's, at most).
    Days before the first trip and after the last are in the range (there are no trips there)."""
    months: tuple = ()
    partial: tuple = ()
    edges: tuple = ()
    none: ClassVar[dict] = {"months": None, "partial": None, "edge_from": None, "edge_to": None, "edge_sign": None}

    @classmethod
    def of(cls, f: Filters, first: dt.date, last: dt.date) -> "MonthPlan":
        lo = _month_start(first) if f.date_from is None or f.date_from <= first else f.date_from
        hi = _month_end(last) if f.date_to is None or f.date_to >= last else f.date_to
        months, partial, edges = [], [], []
        for m in range(lo.year * 12 + lo.month - 1, hi.year * 12 + hi.month):
            start = dt.date(m // 12, m % 12 + 1, 1)
            end = _month_end(start)
            a, b = max(lo, start), min(hi, end)  # the month's days in the range
            inside = (b - a).days + 1
            outside = (end - start).days + 1 - inside
            if inside > outside:
                months.append(start)
                partial.append(outside > 0)
                edges += [(start, a - dt.timedelta(days=1), -1)] if a > start else []
                edges += [(b + dt.timedelta(days=1), end, -1)] if b < end else []
            else:
                edges.append((a, b, 1))
        return cls(tuple(months), tuple(partial), tuple(edges))

    def params(self) -> dict:
        return {"months": list(self.months), "partial": list(self.partial),
                "edge_from": [e[0] for e in self.edges], "edge_to": [e[1] for e in self.edges],
                "edge_sign": [e[2] for e in self.edges]}


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _period_dropped_if_whole(c, f: Filters) -> tuple[Filters, tuple]:
    """``f`` without its dates when they take in every trip stored (the same answer, from the
    summaries instead of the raw trips), and the first and last day of the trips stored."""
    if not f.dated:
        return f, (None, None)
    first, last = c.execute(query("data_period")).one()
    if first is None or ((f.date_from or first) <= first and (f.date_to or last) >= last):
        return replace(f, date_from=None, date_to=None), (first, last)
    return f, (first, last)


def _jsonable(f: Filters) -> dict:
    p = f.params()
    return {"regions": p["regions"], "datasources": p["datasources"],
            "from": f.date_from.isoformat() if f.date_from else None,
            "to": f.date_to.isoformat() if f.date_to else None, "days": f.days, "hours": p["hours"]}
