"""Groups of regions and datasources named together, from the trips of one kept list's groups.

Compaction keeps the top groups of each region and of each datasource (flow_top), not of each
pair of them. But a group's trips of a region and a datasource are at most its trips of the
region, and at most its trips of the datasource: a group missing from the datasource's kept list
counts no more than that list's least count (kept_min) there, so no more in the pair. So the
pair's trips are counted for the list's groups only (a hash join with at most 5,000 groups instead
of a hash aggregation of every group: at 10M trips, Prague's and cheap_mobile's fine groups 0.2 s
against 0.8 s), every other trip counted together, and the answer is proved exact when its last
group counts more than kept_min (or when no trip lies outside the list's groups). The list chosen
is, of the region's (one region named) and the datasource's (one datasource named), one that keeps
every group, else the one with the lesser kept_min. Otherwise the caller counts every group.

Only for fine cells (medium and coarse groups of a pair are summed from flow_counts, 0.17 s at
10M), where the lists and trip_times hold every trip (compacted, no job loaded since), and with
no date range (the lists are of all days; a period's counts are far below them).
The SQL is in sql/queries/groups.sql (superset_lists, groups_within_list).
"""
from __future__ import annotations

from dataclasses import dataclass

from .queries import query


@dataclass(frozen=True)
class Group:
    """A group with its exact trips, and the trips of the whole answer."""

    o_cell: int
    d_cell: int
    bucket: int
    trips: int
    total_trips: int


def within_list(c, params: dict) -> tuple[list[Group], tuple[int, int]] | None:
    """The top ``params["limit"]`` groups and the bounds of the number of groups, counted for the
    groups of the kept list that proves them (``params``: those of groups_from_trips, with
    ``days``); None when no list may prove them (then nothing was counted) or the count did not."""
    lists = c.execute(query("superset_lists"), params).all()
    if not lists:
        return None
    best = min(lists, key=lambda s: (not s.complete, s.kept_min))
    if not best.complete and not _hopeful(lists, best):
        return None
    c.execute(query("groups_parallel_setup"))
    counted = c.execute(query("groups_within_list"), {
        **params, "list_region": best.region_id, "list_datasource": best.datasource_id}).all()
    outside = sum(int(r.trips) for r in counted if r.o_cell is None)
    total = sum(int(r.trips) for r in counted)
    groups = sorted((Group(int(r.o_cell), int(r.d_cell), int(r.bucket), int(r.trips), total)
                     for r in counted if r.o_cell is not None),
                    key=lambda g: (-g.trips, g.o_cell, g.d_cell, g.bucket))
    limit = params["limit"]
    if outside == 0:  # every trip is in a group of the list: every group is known
        return groups[:limit], (len(groups),) * 2
    if len(groups) < limit or groups[limit - 1].trips <= best.kept_min:
        return None
    # The groups outside the list count at most kept_min trips each; the answer's groups are
    # groups of each list's trips as well.
    fewest = len(groups) + -(-outside // max(best.kept_min, 1))
    return groups[:limit], (fewest, min(len(groups) + outside, *(s.total_groups for s in lists)))


def _hopeful(lists: list, best) -> bool:
    """A guess before the try (which decides): the answer's limit-th group, as each list's
    limit-th scaled by the share of its trips that the answer keeps, counts more than the least
    count of the list ``best``. (Of 12 sets of filters tried at 10M trips, it let through 6 of
    the 7 whose lists proved them, not one of two regions, and none of the 5 others.)"""
    return max((s.limit_th or 0) * s.share for s in lists) > best.kept_min
