"""Groups counted from the trips, but only for the groups of the kept lists that contain them.

Compaction keeps the top groups of all days (of each day kind, bucket size and level) of
everything, of each region and of each datasource (flow_top, month -infinity), not of each pair of
a region and a datasource, nor of a period. But the trips an answer counts of a region (or a
datasource) are among that region's trips of every datasource, day and hour: a group's count in
the answer's part of a list is at most its count in the list, and a group missing from the list
counts at most the list's least count (kept_min) there. So the answer is split by the regions
named (each part within its region's list), by the datasources named, or not at all (within the
list of everything), and a group missing from every list of the split counts at most the sum of
their least counts (0 for a list that keeps every group). The answer's trips are then counted
only for the lists' groups (a hash join with 5,000 or 20,000 groups a list instead of a hash
aggregation of every group: at 10M trips, Prague's and cheap_mobile's fine groups 0.2 s against
0.8 s; two datasources' medium groups over a year 0.3 s against 0.8 s), every other trip counted
together, and the answer is proved exact when its last group counts more than that sum (or when
no trip lies outside the lists' groups). Of the splits, the one with the least sum is tried, when
a guess says it may prove the answer; otherwise, or when it does not, the caller counts every group.

Only for answers the caller would count from the trips, where the lists and trip_times hold every
trip (compacted, no job loaded since). With hours of the day, a list's group counts the trips of
its bucket in those hours, at most its count in the list (of all hours), whatever the bucket size.
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


def within_list(c, params: dict, long_lists: bool = True) -> tuple[list[Group], tuple[int, int]] | None:
    """The top ``params["limit"]`` groups and the bounds of the number of groups, counted for the
    groups of the kept lists that prove them (``params``: those of groups_from_trips, with
    ``days``; ``long_lists``: whether lists longer than KEPT_TOP may be read whole); None when no
    lists may prove them (then nothing was counted) or the counts did not."""
    from .groups import KEPT_TOP
    lists = {(s.region_id, s.datasource_id): s
             for s in c.execute(query("superset_lists"), {**params, "kept_top": KEPT_TOP}).all()}
    splits = [[(0, 0)]]
    for named, key in ((params["region_ids"], lambda r: (r, 0)), (params["datasource_ids"], lambda d: (0, d))):
        if named:
            splits.append([key(i) for i in named])
    splits = [[lists[k] for k in split] for split in splits if all(k in lists for k in split)]
    guess = _least_guess(lists.values())
    # Each split's lists read whole, or only their first KEPT_TOP groups (those of 1-hour buckets,
    # and everything's of any, keep more: core/compact.py _long_list): the shorter first, when the
    # guess says they may prove the answer (their
    # groups are counted quicker: at 10M, Prague's fine year 0.2 s with 5,000, 0.4 s with 20,000).
    # When the shorter lists do not prove it, the whole ones are tried if the guess says they may.
    tries = []
    for short in (True, False) if long_lists else (True,):
        hopeful = [(unseen, split) for unseen, split in ((_unseen_max(split, short), split) for split in splits)
                   if unseen == 0 or guess > unseen]
        if hopeful:
            unseen, split = min(hopeful, key=lambda t: t[0])
            if not tries or unseen < tries[-1][1]:  # the whole lists only where they bound it lower
                tries.append((short, unseen, split))
    if tries:
        c.execute(query("groups_parallel_setup"))
    for short, unseen_max, split in tries:
        answer = _counted(c, params, splits, split, unseen_max, KEPT_TOP if short else None)
        if answer is not None:
            return answer
    return None


def _counted(c, params: dict, splits: list, split: list, unseen_max: int, list_len: int | None):
    """The answer counted for the groups of ``split``'s lists (their first ``list_len`` groups;
    None: all), if they prove it; else None."""
    counted = c.execute(query("groups_within_list"), {
        **params, "list_regions": [s.region_id for s in split], "list_datasources": [s.datasource_id for s in split],
        "list_len": list_len}).all()
    outside = sum(int(r.trips) for r in counted if r.o_cell is None)
    total = sum(int(r.trips) for r in counted)
    groups = sorted((Group(int(r.o_cell), int(r.d_cell), int(r.bucket), int(r.trips), total)
                     for r in counted if r.o_cell is not None),
                    key=lambda g: (-g.trips, g.o_cell, g.d_cell, g.bucket))
    limit = params["limit"]
    if outside == 0:  # every trip is in a group of the lists: every group is known
        return groups[:limit], (len(groups),) * 2
    if len(groups) < limit or groups[limit - 1].trips <= unseen_max:
        return None
    # The groups outside the lists count at most unseen_max trips each; the answer's groups are
    # among the groups of the lists of any split.
    fewest = len(groups) + -(-outside // max(unseen_max, 1))
    most = min([len(groups) + outside] + [sum(s.total_groups for s in other) for other in splits])
    return groups[:limit], (fewest, most)


def _unseen_max(split: list, short: bool = False) -> int:
    """The most a group missing from every list of ``split`` (``short``: from the first KEPT_TOP
    groups of each) may count in the answer."""
    if short:
        return sum(s.short_kept_min for s in split if not s.short_complete)
    return sum(s.kept_min for s in split if not s.complete)


def _least_guess(lists) -> float:
    """A guess of the answer's limit-th count before the try (which decides): at least that of its
    part in each list (all of it, or that of a region or a datasource named), taken as the list's
    limit-th scaled by the share of the list's trips in the answer. (Of 12 sets of filters of
    regions and datasources named together tried at 10M trips, it let through the 7 whose lists
    proved them and none of the 5 others.)"""
    return max(((s.limit_th or 0) * s.share for s in lists), default=0)
