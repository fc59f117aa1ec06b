"""The summaries of one job, counted in the parsing thread while PostgreSQL ingests the rows.

Counting here, on arrays already decoded, costs a fraction of a second per million rows; counting
the same in SQL after the COPY (INSERT ... SELECT ... GROUP BY over the new partition, which
PostgreSQL 15 runs on one core) took about 8 s. Each summary's key is packed into one or two
int64 columns, so counting is a hash of integers; partial counts are merged whenever they have
doubled, so memory follows the number of distinct keys, not the number of rows. The tables and
what each is for: ``sql/02_schema.sql``; ``tests/test_summaries.py`` checks them against a recount
of the raw trips.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

from .encode import encode_columns

_DAY_US = 86_400_000_000
_HOUR_US = 3_600_000_000
_STRIDE = 100_000          # cell id = ix * _STRIDE + iy (core.grid)
_DAY0 = 1 << 22            # days are stored offset, so that dates before 2000 pack as well


def _parent(cell: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    return cell // _STRIDE // k, cell % _STRIDE // k


class _Counter:
    """Counts of keys made of one or two int64 columns."""

    def __init__(self, width: int):
        self._keys = [f"k{i}" for i in range(width)]
        self._parts: list[pd.Series] = []
        self._rows = 0
        self._merged_rows = 0

    def add(self, *keys: np.ndarray) -> None:
        if len(keys) == 1:
            part = pd.Series(keys[0]).value_counts(sort=False)
        else:
            part = pd.DataFrame(dict(zip(self._keys, keys))).groupby(self._keys, sort=False).size()
        self._parts.append(part)
        self._rows += len(part)
        if self._rows > 2 * self._merged_rows + 500_000:
            self._parts = [self.counts()]
            self._rows = self._merged_rows = len(self._parts[0])

    def counts(self) -> pd.Series:
        """Merged counts indexed by the key column(s)."""
        if not self._parts:
            return pd.Series([], dtype=np.int64)
        if len(self._parts) == 1:
            return self._parts[0]
        return pd.concat(self._parts).groupby(level=list(range(len(self._keys))), sort=False).sum()

    def arrays(self) -> tuple[list[np.ndarray], np.ndarray]:
        if not self._parts:  # no good rows at all
            return [np.empty(0, np.int64) for _ in self._keys], np.empty(0, np.int64)
        c = self.counts()
        if len(self._keys) == 1:
            keys = [c.index.to_numpy(dtype=np.int64)]
        else:
            keys = [c.index.get_level_values(i).to_numpy(dtype=np.int64) for i in range(len(self._keys))]
        return keys, c.to_numpy(dtype=np.int64)


class Rollup:
    """Accumulates the summary rows of one job, batch by batch."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self._daily = _Counter(1)                        # region, datasource, day
        self._flows = {1: _Counter(2), 2: _Counter(2)}   # (o, d cells), (region, datasource, weekend, hour)
        self._area = _Counter(1)                         # endpoint, cx, cy, day
        self._extent: list[pd.DataFrame] = []

    def add(self, region: np.ndarray, source: np.ndarray, ts_us: np.ndarray,
            o_cell: np.ndarray, d_cell: np.ndarray) -> None:
        """Count one batch: dimension ids, timestamps (microseconds since 2000-01-01) and the
        fine cells of origin and destination."""
        region, source = region.astype(np.int64), source.astype(np.int64)
        day = ts_us // _DAY_US                      # days since 2000-01-01 (a Saturday)
        hour = (ts_us - day * _DAY_US) // _HOUR_US
        weekend = ((day + 5) % 7 >= 5).astype(np.int64)  # Monday 0 ... Saturday 5, Sunday 6
        dayk = day + _DAY0
        self._daily.add(((region << 15) | source) << 23 | dayk)
        attrs = (((region << 15) | source) << 1 | weekend) << 5 | hour
        for level, k in ((1, 4), (2, 16)):
            (ox, oy), (dx, dy) = _parent(o_cell, k), _parent(d_cell, k)
            self._flows[level].add((((ox << 14 | oy) << 15) | dx) << 14 | dy, attrs)
        for endpoint, cell in ((0, o_cell), (1, d_cell)):
            cx, cy = _parent(cell, 4)
            self._area.add(((endpoint << 15 | cx) << 14 | cy) << 23 | dayk)
        frame = pd.DataFrame({"region_id": region, "datasource_id": source, "ts": ts_us})
        self._extent.append(frame.groupby(["region_id", "datasource_id"], sort=False)["ts"]
                            .agg(["size", "min", "max"]))

    def tables(self) -> dict[str, dict[str, np.ndarray]]:
        """Every summary's columns for this job (not job_id)."""
        out = {}
        (k,), n = self._daily.arrays()
        out["daily_counts"] = {"region_id": k >> 38, "datasource_id": (k >> 23) & 0x7FFF,
                               "day": (k & 0x7FFFFF) - _DAY0, "trips": n}
        flows = []
        for level, counter in self._flows.items():
            (od, attrs), n = counter.arrays()
            flows.append({
                "level": np.full(len(n), level), "region_id": attrs >> 21,
                "datasource_id": (attrs >> 6) & 0x7FFF, "weekend": (attrs >> 5) & 1, "hour": attrs & 0x1F,
                "o_cell": (od >> 43) * _STRIDE + ((od >> 29) & 0x3FFF),
                "d_cell": ((od >> 14) & 0x7FFF) * _STRIDE + (od & 0x3FFF), "trips": n})
        out["flow_counts"] = {c: np.concatenate([f[c] for f in flows]) for c in flows[0]}
        (k,), n = self._area.arrays()
        out["area_days"] = {"endpoint": k >> 52, "cx": (k >> 37) & 0x7FFF, "cy": (k >> 23) & 0x3FFF,
                            "day": (k & 0x7FFFFF) - _DAY0, "trips": n}
        if self._extent:
            e = (pd.concat(self._extent).groupby(level=[0, 1], sort=False)
                 .agg({"size": "sum", "min": "min", "max": "max"}))
            out["region_datasources"] = {
                "region_id": e.index.get_level_values(0).to_numpy(), "datasource_id": e.index.get_level_values(1).to_numpy(),
                "trips": e["size"].to_numpy(), "first_ts": e["min"].to_numpy(), "last_ts": e["max"].to_numpy()}
        return out

    def copy_into(self, cur) -> int:
        """COPY every summary's rows into its table; return how many. (Binary timestamps are
        int8 microseconds since 2000-01-01, as the trips themselves.)"""
        total = 0
        for name, columns in self.tables().items():
            n = len(columns["trips"])
            if not n:
                continue
            data = [(np.full(n, self.job_id, np.int32), "int4")]
            data += [(values, _TYPES[c]) for c, values in columns.items()]
            cols = ", ".join(["job_id", *columns])
            cur.copy_expert(f"COPY {name} ({cols}) FROM STDIN (FORMAT binary)",
                            io.BytesIO(encode_columns(data)))
            total += n
        return total


_TYPES = {
    "region_id": "int2", "datasource_id": "int2", "day": "date", "hour": "int2", "level": "int2",
    "weekend": "bool", "o_cell": "int8", "d_cell": "int8", "endpoint": "int2", "cx": "int4",
    "cy": "int4", "trips": "int8", "first_ts": "int8", "last_ts": "int8",
}
