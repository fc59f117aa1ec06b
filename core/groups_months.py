"""Groups of a date range from the month counts of the list of all dates (sql/31_list_month_counts.sql, sql/32).

Compaction keeps the top groups of all dates of everything, of each region and of each
datasource, of all days, weekdays and weekend (of the levels in core.groups.PROOF_LEVELS,
PROOF_TOP_FACTOR times KEPT_TOP of them: everything's of every bucket size, the others' of 1-hour
buckets), and, for the levels in MONTH_COUNT_LEVELS, the exact counts of each of those lists'
groups on its days from the first month through each month. A date range's
counts of the list's groups are then those through its last whole month less those through the
month before its first, with the days around them counted from trip_times for
those groups only (core/groups.py MonthPlan says which days: at most two stretches). A group missing
from the list counts at most the list's least count over all dates, so at most that in the range:
when the answer's last group counts more, the answer is the top of the list's groups, exact (or
when the list keeps every group). Otherwise the caller answers as before (the month lists, or the
trips). Only with all regions and datasources, or one region or datasource (1-hour buckets),
hours of the day that are whole buckets (a bucket's count is of all its hours:
core.groups.whole_buckets), and where the lists and trip_times
hold every trip (compacted, no job loaded since).
The SQL is in sql/queries/groups.sql (groups_month_counts).
"""
from __future__ import annotations

from .groups_within import Group
from .queries import query


def month_counted(c, params: dict) -> tuple[list[Group], tuple[int, int]] | None:
    """The top ``params["limit"]`` groups of the range whose whole months and days around them
    ``params`` name (those of groups_kept_and_new: level, bucket_hours, days, weekend, hours, limit
    and a MonthPlan's; list_region and list_datasource: the context, 0 for all), with the bounds of
    the number of groups; None when the list does not prove them, or its months were not counted
    (a database compacted before sql/31 or sql/32)."""
    answer = counted_rows(c, params)
    if answer is None:
        return None
    top = answer[0]
    groups = [Group(int(r.o_cell), int(r.d_cell), int(r.bucket), int(r.trips), int(top.total_trips))
              for r in answer if r.o_cell is not None]
    outside = int(top.total_trips) - int(top.list_trips)  # the trips of the groups missing from the list
    if outside < 0:  # (never: the list's groups' trips are among the answer's)
        return None
    if outside == 0:  # every trip is in a group of the list: every group is known
        return groups, (int(top.list_groups),) * 2
    limit, unseen_max = params["limit"], int(top.kept_min)
    if top.complete or len(groups) < limit or groups[limit - 1].trips <= unseen_max:
        return None  # (a list that keeps every group leaves no trip outside it)
    fewest = int(top.list_groups) + -(-outside // max(unseen_max, 1))
    most = min(int(top.list_groups) + outside, int(top.all_groups))
    return groups, (fewest, most)


def counted_rows(c, params: dict, rows: int | None = None) -> list | None:
    """The rows of groups_month_counts for ``params`` (see month_counted; ``rows``: that many groups
    instead of the answer's limit), the first with the list's and the range's figures; None when
    the guess (hopeful, of the answer's limit) says the list will not prove the answer, or there is
    no list of all dates, or its months were not counted."""
    if not hopeful(c, params):
        return None
    c.execute(query("groups_merge_joins"), {"on": "off"})
    answer = c.execute(query("groups_month_counts"), {**params, "limit": rows or params["limit"]}).all()
    c.execute(query("groups_merge_joins"), {"on": "on"})  # (the caller's answer may follow, in this transaction)
    if not answer or answer[0].kept_min is None or not answer[0].counts_kept:
        return None
    return answer


def hopeful(c, params: dict) -> bool:
    """Whether the list may prove the answer, before the try: it keeps every group, or a guess of
    the answer's limit-th count (the list's limit-th count of all dates, in the hours asked, scaled
    by the share of all trips that the range's days hold) is more than the list's least count. (At
    1M trips a month's or a quarter's fine groups are not proved: the failed try cost 70-170 ms.)"""
    from .groups import KEPT_TOP
    lists = c.execute(query("superset_lists"), {**params, "kept_top": KEPT_TOP}).all()
    return any(s.complete or (s.limit_th or 0) * s.share > s.kept_min for s in lists
               if (s.region_id, s.datasource_id) == (params["list_region"], params["list_datasource"]))
