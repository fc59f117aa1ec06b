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
(groups_hours_summed).
"""
from __future__ import annotations

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
    seen = [r for r in rows if r.o_cell is not None]
    limit = params["limit"]
    answer = seen[:limit]
    if len(answer) < limit:
        if not top.complete:  # a group in no list may belong to the answer
            return None
    else:
        last = answer[-1].trips
        if last <= top.unseen_max:
            return None
        if any(r.most > r.trips for r in answer):  # a group of the answer known only within a range
            return None
        if any(r.most > r.trips and r.most >= last for r in seen[limit:]):  # one that may reach it
            return None
    total = int(top.total_trips)
    groups = [Group(int(r.o_cell), int(r.d_cell), int(r.bucket), int(r.trips), total) for r in answer]
    if top.complete:  # every group is in the list: every group is known
        return groups, (int(top.seen_groups),) * 2
    return groups, (int(top.fewest_groups), max(int(top.most_groups), int(top.fewest_groups)))
