"""The summaries of one job, counted in the parsing thread while PostgreSQL ingests the rows.

Counting here, on arrays already decoded, costs a fraction of a second per million rows; counting
the same in SQL after the COPY (INSERT ... SELECT ... GROUP BY over the new partition, which
PostgreSQL 15 runs on one core) took about 8 s. Each summary's key is packed into one or two
int64 columns, so counting is a sort of integers (numpy), and partial counts are merged whenever
they have doubled. Memory is bounded whatever the file: when a summary holds more than
``max_keys`` distinct keys, its counts so far are spilled to a temporary file, split by a hash of
the key into ``_PARTS`` partitions, and counting starts afresh. At the end each partition is read
back and reduced on its own (a key always falls in the same partition), so every key has exactly
one row per job, and memory holds one partition at a time; the reduced partitions are then
merged in key order (``_Sorted``), so a job's rows are stored sorted, spilled or not (the BRIN on
area_days relies on it). The tables and what each is for: ``sql/02_schema.sql``; ``tests/test_summaries.py`` checks them against a recount of the
raw trips, with spilling forced.
"""
from __future__ import annotations

import tempfile
from typing import Iterator

import numpy as np

from .encode import HEADER, TRAILER, encode_columns

_DAY_US = 86_400_000_000
_HOUR_US = 3_600_000_000
_STRIDE = 100_000          # cell id = ix * _STRIDE + iy (core.grid)
_DAY0 = 1 << 22            # days are stored offset, so that dates before 2000 pack as well
MAX_KEYS = 150_000         # distinct keys a summary holds in memory before it spills
_PART_BITS = 6             # spilled keys go to 2**6 hash partitions, reduced one at a time at the end
_PARTS = 1 << _PART_BITS
_ENCODE_ROWS = 50_000
_MERGE_ROWS = 1_024         # rows of each spilled partition in memory while merging them in key order


def _parent(cell: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    return cell // _STRIDE // k, cell % _STRIDE // k


def _grouped(keys: list[np.ndarray], values: list[tuple[np.ndarray, np.ufunc]], ordered: bool = True):
    """Distinct keys (one or more int64 columns) with each value column reduced by its ufunc; in
    key order, or (``ordered=False``, keys of several columns) in an order of their own, for
    counts not yet final."""
    if len(keys[0]) == 0:
        return keys, [v for v, _ in values]
    # Sums, minima and maxima do not depend on the order of equal keys: no stable sort needed
    # (numpy's default argsort is vectorised, several times quicker than its stable one).
    order = np.argsort(keys[0]) if len(keys) == 1 else _multi_key_order(keys, ordered)
    keys = [k[order] for k in keys]  # the caller's unsorted arrays can go
    change = np.zeros(len(order), dtype=bool)
    change[0] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    return [k[starts] for k in keys], [op.reduceat(v[order], starts) for v, op in values]


_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9))


def _multi_key_order(keys: list[np.ndarray], ordered: bool) -> np.ndarray:
    """An order that brings equal keys together: lexicographic, or (unordered) that of a 64-bit
    mix of the key columns, several times quicker than a lexicographic sort. Two different keys
    with the same mix would not be brought together: if any sit side by side in that order, the
    lexicographic order is used instead (exact whatever the data)."""
    if ordered:
        return np.lexsort(keys[::-1])
    mixed = np.zeros(len(keys[0]), dtype=np.uint64)
    for k, m in zip(keys, _MIX):
        mixed = (mixed ^ k.astype(np.uint64, copy=False)) * m
    order = np.argsort(mixed)
    mixed = mixed[order]
    same = mixed[1:] == mixed[:-1]
    if same.any():
        differ = np.zeros(len(same), dtype=bool)
        for k in keys:
            sk = k[order]
            differ |= sk[1:] != sk[:-1]
        if (same & differ).any():
            return np.lexsort(keys[::-1])
    return order


class _Counter:
    """Keys of one or more int64 columns with value columns reduced by ufuncs (add for counts,
    minimum/maximum for times); past ``max_keys`` distinct keys the reduced rows are spilled."""

    def __init__(self, ops: tuple[np.ufunc, ...], max_keys: int | None = None):
        self._ops, self._max_keys = ops, max_keys or MAX_KEYS
        self._parts: list[tuple[list[np.ndarray], list[np.ndarray]]] = []
        self._pending = 0
        self._merged = 0
        self._spilled: _Runs | None = None

    def add(self, keys: list[np.ndarray], values: list[np.ndarray]) -> None:
        k, v = _grouped(keys, list(zip(values, self._ops)), ordered=False)
        self._parts.append((k, v))
        self._pending += len(v[0])
        if self._pending > max(self._merged, 100_000):
            self._merge()
            if self._merged > self._max_keys:
                self._spill(*self._parts.pop())
                self._merged = 0

    def _spill(self, keys: list[np.ndarray], values: list[np.ndarray]) -> None:
        if self._spilled is None:
            self._spilled = _Runs()
        self._spilled.write(keys + values)

    def _merge(self, ordered: bool = False) -> None:
        width, parts = len(self._parts[0][0]), self._parts
        self._parts = []
        keys = [np.concatenate([p[0][i] for p in parts]) for i in range(width)]
        values = [np.concatenate([p[1][i] for p in parts]) for i in range(len(self._ops))]
        del parts  # only the concatenated copies are alive while sorting
        self._parts = [_grouped(keys, list(zip(values, self._ops)), ordered)]
        self._merged, self._pending = len(self._parts[0][1][0]), 0

    def discard(self) -> None:
        """Forget every count (a job that fails): the spilled file is closed now, not at exit."""
        if self._spilled is not None:
            self._spilled.close()
        self._parts, self._pending, self._merged, self._spilled = [], 0, 0, None

    def finish(self, abandoned=lambda: False) -> Iterator[tuple[list[np.ndarray], list[np.ndarray]]]:
        """The counted rows, one per distinct key, in one or more pieces; then the counter is empty.
        Yields nothing more once ``abandoned()`` (checked between the spilled partitions)."""
        if abandoned():
            return
        # One row per key, in key order (a lone part is in mix order); spilled, the partitions
        # regroup what is spilled, so only several parts are merged first (fewer rows to write).
        if self._parts and (self._spilled is None or len(self._parts) > 1):
            self._merge(ordered=self._spilled is None)
        if self._spilled is None:
            if self._parts:
                yield self._parts[0]
        else:
            if self._parts:
                self._spill(*self._parts[0])
            self._parts = []
            nkeys = self._spilled.width - len(self._ops)
            with _Sorted() as reduced:
                for cols in self._spilled.partitions():
                    if abandoned():
                        return
                    keys, values = _grouped(cols[:nkeys], list(zip(cols[nkeys:], self._ops)))
                    reduced.write(keys + values)
                self._spilled.close()
                for cols in reduced.merged():
                    yield cols[:nkeys], cols[nkeys:]
        self._parts, self._pending, self._merged, self._spilled = [], 0, 0, None


class _Runs:
    """Spilled rows (int64 columns) in a temporary file, each write split into ``_PARTS``
    partitions by a hash of the first key column, so that equal keys share a partition."""

    def __init__(self):
        self.file = tempfile.TemporaryFile()
        self.chunks: list[list[tuple[int, int]]] = [[] for _ in range(_PARTS)]  # (offset, rows)
        self.width = 0  # columns per row: the keys, then the values

    def write(self, cols: list[np.ndarray]) -> None:
        self.width = len(cols)
        part = (cols[0].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - _PART_BITS)
        order = np.argsort(part)  # the order within a partition does not matter: it is regrouped
        block = np.stack([c.astype(np.int64, copy=False)[order] for c in cols])
        bounds = np.searchsorted(part[order], np.arange(_PARTS + 1, dtype=np.uint64))
        for p in range(_PARTS):
            a, b = bounds[p], bounds[p + 1]
            if b > a:
                self.chunks[p].append((self.file.tell(), int(b - a)))
                self.file.write(np.ascontiguousarray(block[:, a:b]).tobytes())

    def partitions(self) -> Iterator[list[np.ndarray]]:
        width = self.width
        for chunks in self.chunks:
            if not chunks:
                continue
            pieces = []
            for offset, rows in chunks:
                self.file.seek(offset)
                pieces.append(np.frombuffer(self.file.read(rows * width * 8), dtype=np.int64).reshape(width, rows))
            block = np.concatenate(pieces, axis=1)
            yield [block[i] for i in range(width)]

    def close(self) -> None:
        self.file.close()


class _Sorted:
    """The reduced partitions of a spilled summary, each sorted by key, in a temporary file; read
    back merged in key order, about a thousand rows of each at a time, so that a job's rows are
    stored in key order (what the BRIN on area_days relies on) whether or not they spilled. A
    first key value falls in one partition only (``_Runs`` splits by its hash), so merging by the
    first key column alone keeps the rows of equal first keys in their partition's order."""

    def __init__(self):
        self.file = tempfile.TemporaryFile()
        self.blocks: list[tuple[int, int]] = []  # (offset, rows), columns one after another
        self.width = 0

    def __enter__(self) -> "_Sorted":
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()

    def write(self, cols: list[np.ndarray]) -> None:
        self.width = len(cols)
        if len(cols[0]):
            self.blocks.append((self.file.tell(), len(cols[0])))
            self.file.write(np.stack([c.astype(np.int64, copy=False) for c in cols]).tobytes())

    def _read(self, block: int, start: int) -> list[np.ndarray]:
        offset, rows = self.blocks[block]
        n = min(_MERGE_ROWS, rows - start)
        out = []
        for c in range(self.width):
            self.file.seek(offset + (c * rows + start) * 8)
            out.append(np.frombuffer(self.file.read(n * 8), dtype=np.int64))
        return out

    def merged(self) -> Iterator[list[np.ndarray]]:
        """Every row, in order of the first column, a piece at a time."""
        pos = [0] * len(self.blocks)
        bufs = []
        for b in range(len(self.blocks)):
            bufs.append(self._read(b, 0))
            pos[b] = len(bufs[b][0])
        while True:
            live = [b for b in range(len(bufs)) if len(bufs[b][0])]
            if not live:
                if pos != [rows for _, rows in self.blocks]:  # never: rows would be lost, so fail the job
                    raise RuntimeError("a spilled summary was not read to its end")
                return
            # Safe to emit: every buffered row up to the least last key of the blocks not all read.
            more = [bufs[b][0][-1] for b in live if pos[b] < self.blocks[b][1]]
            cut = min(more) if more else None
            taken = []
            for b in live:
                n = len(bufs[b][0]) if cut is None else int(np.searchsorted(bufs[b][0], cut, side="right"))
                if n:
                    taken.append([c[:n] for c in bufs[b]])
                    bufs[b] = [c[n:] for c in bufs[b]]
                if len(bufs[b][0]) < max(1, _MERGE_ROWS // 2) and pos[b] < self.blocks[b][1]:
                    # Topped up, not only refilled when empty: every block then spans a good part of
                    # the next cut, and each round emits about half of what is buffered.
                    more_rows = self._read(b, pos[b])
                    pos[b] += len(more_rows[0])
                    bufs[b] = [np.concatenate([old, new]) for old, new in zip(bufs[b], more_rows)]
            cols = [np.concatenate([t[c] for t in taken]) for c in range(self.width)]
            order = np.argsort(cols[0], kind="stable")
            yield [c[order] for c in cols]


class Rollup:
    """Accumulates the summary rows of one job, batch by batch."""

    def __init__(self, job_id: int, max_keys: int | None = None):
        self.job_id = job_id
        add, lo, hi = np.add, np.minimum, np.maximum
        self._counters = {
            "daily_counts": _Counter((add,), max_keys),                                  # region, source, day
            "flow_counts": {level: _Counter((add,), max_keys) for level in (1, 2)},  # (o, d cells), (region, source, weekend, hour)
            "area_days": _Counter((add,), max_keys),                                     # endpoint, cx, cy, day
            "region_datasources": _Counter((add, lo, hi, lo, lo, hi, hi), max_keys),     # region, source
        }
        self._spools: list[list] = []  # [table, rows, binary COPY file], by prepare
        # counting -> preparing -> prepared, or closed; a prepare that stops or fails stays
        # "preparing": a part of the summaries is never copied.
        self._state = "counting"

    def add(self, region: np.ndarray, source: np.ndarray, ts_us: np.ndarray,
            o_cell: np.ndarray, d_cell: np.ndarray) -> None:
        """Count one batch: dimension ids, timestamps (microseconds since 2000-01-01) and the
        fine cells of origin and destination."""
        region, source = region.astype(np.int64), source.astype(np.int64)
        ones = np.ones(len(ts_us), dtype=np.int64)
        day = ts_us // _DAY_US                      # days since 2000-01-01 (a Saturday)
        hour = (ts_us - day * _DAY_US) // _HOUR_US
        weekend = ((day + 5) % 7 >= 5).astype(np.int64)  # Monday 0 ... Saturday 5, Sunday 6
        dayk = day + _DAY0
        pair = (region << 15) | source
        c = self._counters
        c["daily_counts"].add([pair << 23 | dayk], [ones])
        attrs = (pair << 1 | weekend) << 5 | hour
        for level, k in ((1, 4), (2, 16)):
            (ox, oy), (dx, dy) = _parent(o_cell, k), _parent(d_cell, k)
            c["flow_counts"][level].add([(((ox << 14 | oy) << 15) | dx) << 14 | dy, attrs], [ones])
        for endpoint, cell in ((0, o_cell), (1, d_cell)):
            cx, cy = _parent(cell, 4)
            c["area_days"].add([((endpoint << 15 | cx) << 14 | cy) << 23 | dayk], [ones])
        (ox, oy), (dx, dy) = _parent(o_cell, 4), _parent(d_cell, 4)  # medium cells: the region's extent
        x0, y0, x1, y1 = np.minimum(ox, dx), np.minimum(oy, dy), np.maximum(ox, dx), np.maximum(oy, dy)
        c["region_datasources"].add([pair], [ones, ts_us, ts_us, x0, y0, x1, y1])

    def prepare(self, abandoned=lambda: False) -> None:
        """Reduce and encode every summary's rows into temporary files in binary COPY format, one
        summary at a time, so memory holds no more than one summary's rows (or one partition of
        them, when spilled). Client work only: it runs while PostgreSQL indexes the job's trips.
        (Binary timestamps are int8 microseconds since 2000-01-01, as the trips themselves.)
        Stops early once ``abandoned()`` (the job is failing or cancelled); nothing can be copied then."""
        self._state = "preparing"
        for table, counter in self._counters.items():
            levels = counter.items() if isinstance(counter, dict) else [(None, counter)]
            spool = tempfile.TemporaryFile()
            self._spools.append([table, 0, spool])  # closed by close(), whatever happens next
            spool.write(HEADER)
            for level, c in levels:
                for keys, values in c.finish(abandoned):
                    for i in range(0, len(values[0]), _ENCODE_ROWS):  # encoded a slice at a time
                        if abandoned():
                            return
                        part = slice(i, i + _ENCODE_ROWS)
                        columns = _columns(table, [k[part] for k in keys], [v[part] for v in values], level)
                        spool.write(self._encoded(columns))
                        self._spools[-1][1] += len(columns["trips"])
            if abandoned():
                return
            spool.write(TRAILER)
            spool.seek(0)
        self._state = "prepared"

    def copy_into(self, cur) -> int:
        """COPY every summary's prepared rows into its table; return how many."""
        if self._state == "counting":
            self.prepare()
        if self._state != "prepared":  # never copy a part of the summaries
            raise RuntimeError(f"the summaries are {self._state}, not prepared whole; nothing of them can be copied")
        total = 0
        try:
            for table, rows, spool in self._spools:
                if rows:
                    cols = ", ".join(["job_id", *_COLUMNS[table]])
                    cur.copy_expert(f"COPY {table} ({cols}) FROM STDIN (FORMAT binary)", spool, size=1 << 20)
                    total += rows
        finally:
            self.close()
        return total

    def close(self) -> None:
        """Drop the prepared files and the counters' spilled ones (a job that fails)."""
        for _, _, spool in self._spools:
            spool.close()
        self._spools, self._state = [], "closed"
        for counter in self._counters.values():
            for c in counter.values() if isinstance(counter, dict) else [counter]:
                c.discard()

    def _encoded(self, columns: dict[str, np.ndarray]) -> bytes:
        n = len(columns["trips"])
        data = [(np.full(n, self.job_id, np.int32), "int4")]
        data += [(values, _TYPES[c]) for c, values in columns.items()]
        return encode_columns(data)


def _columns(table: str, keys: list[np.ndarray], values: list[np.ndarray], level: int | None) -> dict[str, np.ndarray]:
    """Unpack a summary's packed keys into its table's columns (not job_id)."""
    n = values[0]
    if table == "daily_counts":
        (k,) = keys
        return {"region_id": k >> 38, "datasource_id": (k >> 23) & 0x7FFF, "day": (k & 0x7FFFFF) - _DAY0,
                "trips": n}
    if table == "flow_counts":
        od, attrs = keys
        return {"level": np.full(len(n), level), "region_id": attrs >> 21,
                "datasource_id": (attrs >> 6) & 0x7FFF, "weekend": (attrs >> 5) & 1, "hour": attrs & 0x1F,
                "o_cell": (od >> 43) * _STRIDE + ((od >> 29) & 0x3FFF),
                "d_cell": ((od >> 14) & 0x7FFF) * _STRIDE + (od & 0x3FFF), "trips": n}
    if table == "area_days":
        (k,) = keys
        return {"endpoint": k >> 52, "cx": (k >> 37) & 0x7FFF, "cy": (k >> 23) & 0x3FFF,
                "day": (k & 0x7FFFFF) - _DAY0, "trips": n}
    (k,) = keys
    trips, first, last, cx0, cy0, cx1, cy1 = values
    return {"region_id": k >> 15, "datasource_id": k & 0x7FFF, "trips": trips, "first_ts": first, "last_ts": last,
            "cx0": cx0, "cy0": cy0, "cx1": cx1, "cy1": cy1}


_COLUMNS = {
    "daily_counts": ["region_id", "datasource_id", "day", "trips"],
    "flow_counts": ["level", "region_id", "datasource_id", "weekend", "hour", "o_cell", "d_cell", "trips"],
    "area_days": ["endpoint", "cx", "cy", "day", "trips"],
    "region_datasources": ["region_id", "datasource_id", "trips", "first_ts", "last_ts", "cx0", "cy0", "cx1", "cy1"],
}


_TYPES = {
    "region_id": "int2", "datasource_id": "int2", "day": "date", "hour": "int2", "level": "int2",
    "weekend": "bool", "o_cell": "int8", "d_cell": "int8", "endpoint": "int2", "cx": "int4",
    "cy": "int4", "trips": "int8", "first_ts": "int8", "last_ts": "int8",
    "cx0": "int4", "cy0": "int4", "cx1": "int4", "cy1": "int4",
}
