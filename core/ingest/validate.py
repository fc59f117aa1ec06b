"""Validate: CSV records -> typed columns of good rows, plus rejects with line, column and reason.

The common case is checked vectorised (pyarrow compute over a batch); only the records that fail
are looked at one by one, to say exactly what is wrong with them.
"""
from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..filters import INVISIBLE, stored_name
from .read import COLUMNS, Lines, Records, clip

_POINT = r"^\s*POINT\s*\(\s*([^\s()]+)\s+([^\s()]+)\s*\)\s*$"
_POINT_RE = re.compile(_POINT, re.IGNORECASE | re.ASCII)  # \d, \s as in Arrow's RE2
_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_NUMBER_RE2 = _NUMBER[1:-1]  # the same, unanchored, to sit inside a pattern
_POINT_NUMBERS = rf"(?i)^\s*POINT\s*\(\s*(?P<x>{_NUMBER_RE2})\s+(?P<y>{_NUMBER_RE2})\s*\)\s*$"
_DATETIME = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?$"
# Timestamps hold microseconds: finer fractions of a second are cut (not rounded, which could move
# a trip into the next second, day or week).
_PAST_MICROSECONDS = r"(\.\d{6})\d+$"
_DATETIME_RE = re.compile(_DATETIME, re.ASCII)
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in microseconds since 1970-01-01
_MIN_US = -62_135_596_800_000_000   # 0001-01-01 in microseconds since 1970-01-01 (year 0 is no date)
_GEOMETRY_TYPES = {"LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON",
                   "GEOMETRYCOLLECTION", "CIRCULARSTRING", "COMPOUNDCURVE", "CURVEPOLYGON",
                   "MULTICURVE", "MULTISURFACE", "POLYHEDRALSURFACE", "TIN", "TRIANGLE"}
RAW_MAX_CHARS = 1000
NAME_MAX_CHARS = 200  # region and datasource names (the database indexes them; names are short)


@dataclass
class Reject:
    line: int
    column: str | None
    reason: str
    message: str
    raw: str


@dataclass
class GoodRows:
    """Typed columns of the rows that passed, all of the same length."""

    region: pa.Array           # strings, trimmed
    datasource: pa.Array
    ts_us: np.ndarray          # int64, microseconds since 2000-01-01 (PostgreSQL's epoch), local time
    o_lon: np.ndarray
    o_lat: np.ndarray
    d_lon: np.ndarray
    d_lat: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_us)


def validate(batch: Records | Lines, bad_utf8_lines: set[int] | None = None) -> tuple[GoodRows, list[Reject]]:
    """Split a batch of records into good rows and rejects (one reject per bad record)."""
    if isinstance(batch, Lines):
        return _validate_lines(batch)
    return _validate_records(batch, bad_utf8_lines)


def _validate_records(batch: Records, bad_utf8_lines: set[int] | None) -> tuple[GoodRows, list[Reject]]:
    """Records read by the csv module (fields in COLUMNS order) -> good rows and rejects."""
    starts, ends, recs = batch.starts, batch.ends, batch.recs
    n = len(recs)
    ok = np.array([len(r) == 5 for r in recs], dtype=bool)
    if bad_utf8_lines:
        for i in range(n):
            if any(starts[i] <= b <= ends[i] for b in bad_utf8_lines):
                ok[i] = False
    idx = np.flatnonzero(ok)
    five = [recs[i] for i in idx] if len(idx) < n else recs
    if five:
        cols = [pa.array(c, type=pa.string()) for c in zip(*five)]
    else:
        cols = [pa.array([], type=pa.string()) for _ in COLUMNS]
    return _checked(n, idx, cols, lambda i: _explain(
        starts[i], recs[i], _has_bad_line(starts[i], ends[i], bad_utf8_lines)))


def _validate_lines(batch: Lines) -> tuple[GoodRows, list[Reject]]:
    """Plain lines split by Arrow -> good rows and rejects, without a Python string per field."""
    idx = np.flatnonzero(pc.list_value_length(batch.fields).to_numpy(zero_copy_only=False) == 5)
    five = batch.fields if len(idx) == len(batch) else batch.fields.take(pa.array(idx, type=pa.int64()))
    cols = [pc.list_element(five, i) for i in batch.order]
    return _checked(len(batch), idx, cols, lambda i: _explain(
        int(batch.line[i]), _in_columns_order(batch.text[i].as_py().split(","), batch.order), False))


def _in_columns_order(rec: list[str], order: list[int]) -> list[str]:
    return [rec[i] for i in order] if len(rec) == 5 else rec


def _checked(n: int, idx: np.ndarray, cols: list[pa.Array], explain) -> tuple[GoodRows, list[Reject]]:
    """Check the five-field records ``idx`` (of ``n``), whose columns are ``cols``; every other
    record, and every record failing a check, becomes ``explain(i)``."""
    region, origin, destination, when, source = cols
    region, source = _trimmed(region), _trimmed(source)
    good = pc.and_(_name_ok(region), _name_ok(source))
    o_lon, o_lat, o_ok = _points(origin)
    d_lon, d_lat, d_ok = _points(destination)
    ts, t_ok = _timestamps(when)
    sub_ok = np.asarray(good.to_numpy(zero_copy_only=False), dtype=bool) & o_ok & d_ok & t_ok
    ok = np.zeros(n, dtype=bool)
    ok[idx] = sub_ok
    rejects = [explain(i) for i in np.flatnonzero(~ok)]
    keep = np.flatnonzero(sub_ok)
    take = pa.array(keep, type=pa.int64())
    rows = GoodRows(
        region=pc.take(region, take), datasource=pc.take(source, take),
        ts_us=ts[keep], o_lon=o_lon[keep], o_lat=o_lat[keep], d_lon=d_lon[keep], d_lat=d_lat[keep],
    )
    return rows, rejects


# Control characters (C0, DEL, C1) but for tab and line ends (a quoted CSV field may hold those):
# no name holds one, and printed raw they drive a terminal (an ESC clears the screen or retitles
# the window of whoever lists the regions).
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
_CONTROL_RE = re.compile(_CONTROL)


def _trimmed(names: pa.Array) -> pa.Array:
    """Names as stored (core.filters.stored_name: str.strip trims what Arrow's trim does)."""
    return pc.utf8_trim_whitespace(pc.utf8_trim(pc.utf8_trim_whitespace(_composed(names)), INVISIBLE))


def _composed(names: pa.Array) -> pa.Array:
    """Names in Unicode's composed form (NFC), as core.filters.stored_name: "Zu\u0308rich" (as macOS
    writes it) and "Z\u00fcrich" are one region, not two that look the same. Only a batch with
    names beyond ASCII is looked at, and then its distinct names."""
    if pc.all(pc.string_is_ascii(names)).as_py() is not False:
        return names
    distinct = pc.dictionary_encode(names)
    words = distinct.dictionary.to_pylist()
    nfc = [unicodedata.normalize("NFC", w) for w in words]
    return names if nfc == words else pc.take(pa.array(nfc, pa.string()), distinct.indices)


def _name_ok(names: pa.Array) -> pa.Array:
    length = pc.utf8_length(names)
    # the regex on the batch's distinct names (a few): a third of the time of one on every name
    distinct = pc.dictionary_encode(names)
    control = pc.take(pc.match_substring_regex(distinct.dictionary, _CONTROL), distinct.indices)
    return pc.and_(pc.and_(pc.greater(length, 0), pc.less_equal(length, NAME_MAX_CHARS)), pc.invert(control))


def _has_bad_line(start: int, end: int, bad: set[int] | None) -> bool:
    return bool(bad) and any(start <= b <= end for b in bad)


def _points(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lon, lat, ok) of WKT points; lon in [-180, 180], lat in [-90, 90], finite."""
    n = len(arr)
    if n == 0:
        return np.empty(0), np.empty(0), np.empty(0, dtype=bool)
    lon_lat = _canonical_points(arr)
    if lon_lat is not None:
        lon, lat = lon_lat
        okn = np.ones(n, dtype=bool)
    else:
        parts = pc.extract_regex(arr, _POINT_NUMBERS)  # null where not a point of two plain numbers
        xs, ys = pc.struct_field(parts, "x"), pc.struct_field(parts, "y")
        ok = pc.is_valid(parts)
        xs = pc.if_else(ok, xs, "0")
        ys = pc.if_else(ok, ys, "0")
        lon = pc.cast(xs, pa.float64()).to_numpy(zero_copy_only=False)
        lat = pc.cast(ys, pa.float64()).to_numpy(zero_copy_only=False)
        okn = np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)
    okn &= np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0)
    return lon, lat, okn


def _canonical_points(arr: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """(lon, lat) when every value is written ``POINT (x y)`` with two plain numbers, as files
    almost always are: four times quicker than the regex. None when any value is written otherwise
    (the regex then decides, value by value)."""
    if not pc.all(pc.and_(pc.starts_with(arr, "POINT ("), pc.ends_with(arr, ")"))).as_py():
        return None
    xy = pc.split_pattern(pc.utf8_slice_codeunits(arr, 7, -1), " ", max_splits=1)
    if pc.min(pc.list_value_length(xy)).as_py() != 2:
        return None
    try:  # refuses what is not a number; takes inf and nan too, which the caller rejects as not finite
        return (pc.cast(pc.list_element(xy, 0), pa.float64()).to_numpy(zero_copy_only=False),
                pc.cast(pc.list_element(xy, 1), pa.float64()).to_numpy(zero_copy_only=False))
    except pa.ArrowInvalid:
        return None


def _timestamps(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(microseconds since 2000-01-01, ok) of ISO 8601 local datetimes."""
    n = len(arr)
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
    arr = pc.utf8_trim_whitespace(arr)
    if (pc.max(pc.binary_length(arr)).as_py() or 0) > 26:  # the regex costs 0.1-0.2 s per 1M rows
        arr = pc.replace_substring_regex(arr, _PAST_MICROSECONDS, r"\1")
    ok = pc.fill_null(pc.match_substring_regex(arr, _DATETIME), False)
    filled = pc.if_else(ok, arr, "2000-01-01 00:00:00")
    try:
        ts = pc.cast(filled, pa.timestamp("us")).cast(pa.int64()).to_numpy(zero_copy_only=False)
        okn = np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)
        okn &= ts >= _MIN_US  # pyarrow takes year 0000, which the row-by-row path (and Python) refuse
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # A well-formed but impossible date (2018-02-30) somewhere in the batch: row by row.
        okn = np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)
        ts = np.zeros(n, dtype=np.int64)
        for i, s in enumerate(filled.to_pylist()):
            parsed = _parse_datetime(s)
            if parsed is None:
                okn[i] = False
            else:
                ts[i] = parsed
        return ts, okn
    return ts - _PG_EPOCH_US, okn


def _parse_datetime(s: str) -> int | None:
    """Microseconds since 2000-01-01 of a local ISO datetime, or None."""
    try:
        d = datetime.fromisoformat(re.sub(_PAST_MICROSECONDS, r"\1", s.strip(), flags=re.ASCII))
    except ValueError:
        return None
    if d.tzinfo is not None:
        return None
    delta = d - datetime(2000, 1, 1)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _as_csv(rec: list[str]) -> str:
    """The record as a CSV line again (fields with commas, quotes or line ends quoted), so that a
    reject, corrected, can be loaded again."""
    out = io.StringIO()  # (with no line terminator, the writer would not quote a field's line end)
    csv.writer(out, lineterminator="\r\n").writerow(rec)
    return out.getvalue().removesuffix("\r\n")


def _explain(line: int, rec: list[str], bad_utf8: bool) -> Reject:
    """Why a record was rejected: the first problem found, in words."""
    raw = _as_csv(rec)[:RAW_MAX_CHARS]
    if bad_utf8:
        if any("\x00" in f for f in rec):
            return Reject(line, None, "invalid_encoding",
                          "the record contains a NUL byte (\\x00), which text cannot hold", raw)
        return Reject(line, None, "invalid_encoding",
                      "the record is not valid UTF-8 text (save the file as UTF-8)", raw)
    if len(rec) != 5:
        return Reject(line, None, "field_count",
                      f"expected 5 fields ({', '.join(COLUMNS)}), found {len(rec)}", raw)
    region, origin, destination, when, source = rec
    region, source = stored_name(region), stored_name(source)  # as _checked takes them
    for col, name in (("region", region), ("datasource", source)):
        if len(name) > NAME_MAX_CHARS:
            return Reject(line, col, "too_long", f"{col} is {len(name):,} characters long; "
                          f"names are at most {NAME_MAX_CHARS}", raw)
        control = _CONTROL_RE.search(name)
        if control:
            c = control.group()
            return Reject(line, col, "control_character", f"{col} contains the control character U+{ord(c):04X} "
                          f"({unicodedata.name(c, repr(c))}), which no name may hold", raw)
    if not region:
        return Reject(line, "region", "empty_value", "region is empty", raw)
    for col, text in (("origin_coord", origin), ("destination_coord", destination)):
        problem = _point_problem(text)
        if problem:
            return Reject(line, col, problem[0], f'{col} "{clip(text)}" {problem[1]}', raw)
    problem = _datetime_problem(when)
    if problem:
        return Reject(line, "datetime", problem[0], f'datetime "{clip(when)}" {problem[1]}', raw)
    if not source:
        return Reject(line, "datasource", "empty_value", "datasource is empty", raw)
    return Reject(line, None, "invalid_row", "the record could not be read", raw)


_ZONE = re.compile(r"(Z|[+-]\d{2}:?\d{2})$", re.ASCII)


def _foreign(text: str) -> str | None:
    """The first character that is neither printable ASCII nor ASCII white space, named
    (U+00A0 NO-BREAK SPACE), or None: what looks right on screen but is not."""
    c = next((c for c in text if not (" " <= c <= "~" or c in "\t\n\r\f")), None)  # RE2's \s: no \v
    return None if c is None else f"the character U+{ord(c):04X} ({unicodedata.name(c, 'a control character')})"


def _point_problem(text: str) -> tuple[str, str] | None:
    if odd := _foreign(text):  # never in a valid point (Arrow's check reads ASCII only)
        return "invalid_point", f"contains {odd}; expected POINT (lon lat) in plain ASCII"
    m = _POINT_RE.match(text)
    if not m:
        kind = re.match(r"^\s*([A-Za-z]+)", text)
        if kind and kind.group(1).upper() in _GEOMETRY_TYPES:
            return "wrong_geometry", f"is a {kind.group(1).upper()}, not a POINT (lon lat)"
        if re.match(r"^\s*POINT\s*(?:ZM|Z|M)\s*\(", text, re.IGNORECASE):
            return "wrong_geometry", "is a point with Z or M coordinates, not a POINT (lon lat)"
        values = re.match(r"^\s*POINT\s*\(\s*([^\s()]+(?:\s+[^\s()]+){2,3})\s*\)\s*$", text, re.IGNORECASE)
        if values:  # three or four values: Z or M coordinates, if they are numbers
            odd = next((v for v in values.group(1).split() if not re.match(_NUMBER, v, re.ASCII)), None)
            if odd is None:
                return "wrong_geometry", "is a point with Z or M coordinates, not a POINT (lon lat)"
            return "invalid_point", f"has a value that is not a number ({clip(odd, 30)}); expected POINT (lon lat)"
        if not text.strip():
            return "invalid_point", "is empty; expected POINT (lon lat)"
        if re.match(r"^\s*SRID\s*=", text, re.IGNORECASE):
            return "invalid_point", ("is EWKT with an SRID prefix; expected plain WKT like POINT (14.43 50.08), "
                                     "longitude and latitude in degrees (SRID 4326)")
        return "invalid_point", "is not a valid WKT point like POINT (14.43 50.08)"
    x, y = m.group(1), m.group(2)
    for name, v in (("longitude", x), ("latitude", y)):
        if not re.match(_NUMBER, v, re.ASCII):
            try:
                f = float(v)
            except ValueError:
                return "invalid_point", f"has a {name} that is not a number ({clip(v, 30)})"
            if not math.isfinite(f):
                return "not_finite", f"has a {name} that is not a finite number ({v})"
            return "invalid_point", f"has a {name} that is not a plain decimal number ({v})"
    lon, lat = float(x), float(y)
    if not math.isfinite(lon) or not math.isfinite(lat):
        return "not_finite", "has a coordinate that is not a finite number"
    if not -180.0 <= lon <= 180.0:
        return "out_of_range", f"has longitude {lon} outside [-180, 180]"
    if not -90.0 <= lat <= 90.0:
        return "out_of_range", f"has latitude {lat} outside [-90, 90]"
    return None


def _datetime_problem(text: str) -> tuple[str, str] | None:
    s = text.strip()
    if not _DATETIME_RE.match(s):
        if odd := _foreign(s):
            return "bad_datetime", f"contains {odd}; expected YYYY-MM-DD HH:MM:SS in plain ASCII"
        if re.search(_ZONE, s) and _DATETIME_RE.match(re.sub(_ZONE, "", s)):
            return "bad_datetime", "has a time zone; expected local wall-clock time YYYY-MM-DD HH:MM:SS"
        return "bad_datetime", "is not a datetime like 2018-05-28 09:03:40 (ISO 8601, local time)"
    if _parse_datetime(s) is None:
        return "bad_datetime", "is not a real date and time (check the day, month and hour)"
    return None
