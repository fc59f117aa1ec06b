"""Groups of some hours of the day, of all dates, from the 1-hour lists.

For hours that are not whole buckets, and for those the kept lists of their bucket size did not
prove (core/groups.py reads their first KEPT_TOP groups). With 7-9 h in 3-hour buckets, a group's
trips are those of its bucket in the hours asked: 7 and 8 in the 06-09 bucket, 9 in the 09-12
one. Compaction keeps no list of such parts of buckets, but the 1-hour list of all dates (of
everything, each region and each datasource; all days, weekdays or weekend: PROOF_TOP_FACTOR times
KEPT_TOP groups) has each hour's groups apart: a group of the answer is the sum of its 1-hour
groups in the hours asked. Each of those counts exactly when it is in the list, and at most the
list's least count when it is not. So the answer is proved exact when each of its groups has all
its hours asked in the list, its last group counts more than any group not in it may (the least
count times the most hours asked of one bucket), and every other group seen counts less than that
last one, or exactly (then it comes after it, among equals, by its cells). At 10M trips, fine
groups in 3-hour buckets at 7-9 h: 0.6 s counted for the lists' groups (core/groups_within.py),
20-30 ms so; medium 1-hour groups at 6-8 h 159 ms aggregated, 34 ms so. Only where the lists hold
every trip (compacted, no job loaded since) and the answer is of one context: all regions and
datasources, one region or one datasource. The SQL is in sql/queries/groups.sql
(groups_hours_summed, groups_hours_totals; over a date range groups_month_counts).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .groups_within import Group
from .queries import query


def hours_summed(c, params: dict) -> tuple[list[Group], tuple[int, int]] | None:
    """The top ``params["limit"]`` groups and the bounds of the number of groups, when the 1-hour
    list of the context (``list_region``, ``list_datasource``: 0 for all; ``level``, ``days``,
    ``hours``, ``bucket_hours``) proves them; else None (no such list, or it does not)."""
    rows = c.execute(query("groups_hours_summed"), params).all()
    top = rows[0]
    if top.kept_min is None:  # the context keeps no list
        return None
    hourly = c.execute(query("groups_hours_totals"), params).all()
    total = sum(int(h.total_trips) for h in hourly)
    proved = _summed_and_proved(rows, params, top.complete, int(top.kept_min), total)
    if proved is None:
        return None
    groups, seen = proved
    if top.complete:  # every group is in the list: every group is known
        return groups, (len(seen),) * 2
    # a bucket has at least the groups of its busiest hour asked and those seen in it, at most
    # those of all its hours asked
    by_bucket = {}
    for h in hourly:
        bucket = h.hour // params["bucket_hours"]
        busiest, every = by_bucket.get(bucket, (0, 0))
        by_bucket[bucket] = (max(busiest, int(h.total_groups)), every + int(h.total_groups))
    seen_in = Counter(g.bucket for g in seen)
    low = sum(max(busiest, seen_in[b]) for b, (busiest, _) in by_bucket.items())
    return groups, (low, max(sum(every for _, every in by_bucket.values()), low))


def months_hours_summed(c, params: dict) -> tuple[list[Group], tuple[int, int]] | None:
    """The same over a date range of two months or more: the 1-hour groups' counts in the range
    from the month counts of the context's 1-hour list of all dates (core/groups_months.py,
    groups_month_counts with 1-hour buckets and every group of the list), summed by bucket; a
    1-hour group missing from the list counts at most its least count over all dates, so at most
    that in the range (``params``: those of groups_month_counts, with the answer's bucket_hours
    and limit)."""
    from .groups import KEPT_TOP, PROOF_TOP_FACTOR
    from .groups_months import counted_rows
    # (the guess of groups_months is that of the 1-hour list; every group of the list counted)
    rows = counted_rows(c, {**params, "bucket_hours": 1}, rows=KEPT_TOP * PROOF_TOP_FACTOR)
    if rows is None:
        return None
    top = rows[0]
    total = int(top.total_trips)
    proved = _summed_and_proved(rows, params, top.complete, int(top.kept_min), total)
    if proved is None:
        return None
    groups, seen = proved
    outside = total - sum(g.trips for g in seen)  # (trips of 1-hour groups in no list)
    return groups, (len(seen), len(seen) + outside)


def _summed_and_proved(rows, params: dict, complete: bool, kept_min: int, total: int):
    """The 1-hour groups ``rows`` (o_cell, d_cell, bucket: the hour, trips; those of NULL cells
    left out) summed by the answer's bucket (``params``: hours, bucket_hours, limit), each with the
    most it may count (a missing hour asked: the list's least count, 0 when it is ``complete``);
    then (the answer, every group seen) when those prove it (_proved), else None."""
    bucket_hours, kept_min = params["bucket_hours"], 0 if complete else kept_min
    asked = Counter(h // bucket_hours for h in params["hours"])  # hours asked of each bucket
    summed = {}
    for r in rows:
        if r.o_cell is not None:
            key = (int(r.o_cell), int(r.d_cell), int(r.bucket) // bucket_hours)
            trips, hours = summed.get(key, (0, 0))
            summed[key] = (trips + int(r.trips), hours + 1)
    seen = sorted((_Seen(o, d, b, trips, trips + (asked[b] - hours) * kept_min)
                   for (o, d, b), (trips, hours) in summed.items()),
                  key=lambda g: (-g.trips, g.o_cell, g.d_cell, g.bucket))
    groups = _proved(seen, params["limit"], complete, kept_min * max(asked.values(), default=0), total)
    return None if groups is None else (groups, seen)


@dataclass(frozen=True)
class _Seen:
    """A group of the answer with a 1-hour group in the list: the trips of those, and the most it
    may count."""

    o_cell: int
    d_cell: int
    bucket: int
    trips: int
    most: int


def _proved(seen: list, limit: int, complete: bool, unseen_max: int, total: int) -> list[Group] | None:
    """The top ``limit`` of the groups ``seen`` (in the live order, with ``trips`` and ``most``),
    when nothing else may belong there: each of them exact, the last counting more than a group
    seen in no list may (``unseen_max``) and than any other group seen may, unless that one is
    exact too; else None."""
    answer = seen[:limit]
    if len(answer) < limit:
        if not complete:  # a group in no list may belong to the answer
            return None
    else:
        last = answer[-1].trips
        if last <= unseen_max:
            return None
        if any(r.most > r.trips for r in answer):  # a group of the answer known only within a range
            return None
        if any(r.most > r.trips and r.most >= last for r in seen[limit:]):  # one that may reach it
            return None
    return [Group(int(r.o_cell), int(r.d_cell), int(r.bucket), int(r.trips), total) for r in answer]
