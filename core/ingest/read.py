"""Read: the bytes of a file -> CSV records with their physical line numbers.

Plain or gzip-compressed (detected by content), UTF-8 with or without a BOM, LF or CRLF line ends,
RFC 4180 quoting. Memory stays flat: one physical line is never longer than ``max_line_bytes``.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import stat
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import FileRejected

COLUMNS = ("region", "origin_coord", "destination_coord", "datetime", "datasource")
GZIP_MAGIC = b"\x1f\x8b"
_BUFFER = 1 << 20  # each BufferedReader's
# The fewest bytes a good record takes: a region and a datasource of one character, two points
# like POINT(0 0), a datetime of 19 characters and four commas make 45 (bounds below use 32).
MIN_GOOD_ROW_BYTES = 32


class CountingReader(io.RawIOBase):
    """Counts the bytes read from the underlying file (compressed bytes, for progress)."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._raw.readinto(b)
        self.bytes_read += n or 0
        return n

    def close(self) -> None:
        if not self.closed:
            self._raw.close()  # closing the stream closes the file (a pipe's writer sees EPIPE)
        super().close()


class HashingReader(CountingReader):
    """A CountingReader that also hashes what is read (the CSV text of a gzip file: its SHA-256
    tells the same data apart from its compression, sql/20_content_sha256.sql)."""

    def __init__(self, raw: BinaryIO):
        super().__init__(raw)
        self.sha256 = hashlib.sha256()

    def readinto(self, b) -> int:
        n = super().readinto(b)
        self.sha256.update(memoryview(b)[:n or 0])
        return n


@dataclass
class Source:
    """An open file of trips: ``lines`` yields raw physical lines (bytes, with their ending)."""

    file_name: str
    counter: CountingReader
    stream: BinaryIO
    bad_utf8_lines: set[int] = field(default_factory=set)  # not UTF-8, or holding a NUL byte
    path: str | None = None
    text: HashingReader | None = None  # gzip: the decompressed text, hashed as it is read

    def damaged(self, error: BaseException, near_line: int) -> FileRejected:
        """The file fails: its compressed data is damaged from the line this returns names on
        (the read-ahead buffer hides where; the file is read again to find it)."""
        try:  # a regular file only: a pipe cannot be read again (opening it could wait for ever)
            regular = self.path is not None and stat.S_ISREG(os.stat(self.path).st_mode)
            line = _line_of_damage(self.path) if regular else near_line
        except OSError:
            line = near_line
        reason = str(error)
        if reason.startswith("Not a gzipped file"):  # gzip.BadGzipFile, at what follows a whole member
            reason = "bytes that are not gzip data follow it"
        return FileRejected(self.file_name, f"the compressed data is damaged ({reason})", line)


def open_source(path: str, file_name: str | None = None) -> Source:
    """Open ``path``; gzip is recognised by its magic bytes, whatever the name."""
    file_name = file_name or str(path)
    counter = CountingReader(open(path, "rb"))
    buffered = io.BufferedReader(counter, buffer_size=_BUFFER)
    head = buffered.peek(2)[:2]
    stream: BinaryIO = buffered
    text = None
    if head == GZIP_MAGIC:
        text = HashingReader(gzip.GzipFile(fileobj=buffered, mode="rb"))
        stream = io.BufferedReader(text, buffer_size=_BUFFER)
    return Source(file_name, counter, stream, path=str(path), text=text)


def _line_of_damage(path: str) -> int:
    """The physical line in which a gzip file's readable data ends: one past its whole lines."""
    lines = 0
    with open(path, "rb") as f:
        d, data = zlib.decompressobj(wbits=31), f.read(1 << 16)
        while data:
            try:
                lines += d.decompress(data, 1 << 20).count(b"\n")
            except zlib.error:
                break
            if d.unconsumed_tail:
                data = d.unconsumed_tail
            elif d.eof:  # the next member, if any (gzip allows zero padding between them)
                d, data = zlib.decompressobj(wbits=31), d.unused_data.lstrip(b"\0") or f.read(1 << 16)
            else:
                data = f.read(1 << 16)
    return lines + 1


def _decoded_lines(src: Source, stream: BinaryIO, max_line_bytes: int, first_line: int = 1) -> Iterator[str]:
    """Physical lines as text; a line that is not UTF-8 is noted and decoded with replacements."""
    readline = stream.readline
    line_no = first_line - 1
    while True:
        try:
            raw = readline(max_line_bytes + 1)
        except (OSError, EOFError, zlib.error) as e:  # corrupt or truncated gzip
            raise src.damaged(e, line_no + 1) from None
        if not raw:
            return
        line_no += 1
        if len(raw) > max_line_bytes:
            raise FileRejected(
                src.file_name,
                f"line is longer than {max_line_bytes:,} bytes; this is not a CSV of trips "
                "(or a quote is never closed)", line_no)
        if line_no == 1:
            if raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            wide = ("UTF-32" if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"))
                    else "UTF-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else _wide_without_bom(raw))
            if wide:
                raise FileRejected(src.file_name, f"this is {wide} text, not UTF-8; save the file as UTF-8 "
                                   "(in a spreadsheet: CSV UTF-8) and load it again", 1)
            if b"\x00" in raw:
                raise FileRejected(src.file_name, "this is not a text file (it contains NUL bytes)", 1)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:  # (with a NUL byte too: the record is rejected for that, as below)
            src.bad_utf8_lines.add(line_no)
            yield raw.decode("utf-8", errors="replace")
            continue
        if "\x00" in text:
            # Valid UTF-8, but PostgreSQL text cannot hold NUL: the record is rejected (validate
            # tells why), rather than failing the whole file at COPY time.
            src.bad_utf8_lines.add(line_no)
        yield text


def _wide_without_bom(line: bytes) -> str | None:
    """The name of the encoding (UTF-32 or UTF-16) when the first line reads as such text without a
    byte order mark (each character's other bytes NUL, as in ``r\\0e\\0g\\0``); else None."""
    head = line[:64]
    for name, width in (("UTF-32", 4), ("UTF-16", 2)):
        if len(head) < 4 * width:
            continue
        for lead in range(width):  # the position of each character's one non-NUL byte
            kept = head[lead::width]
            if b"\x00" not in kept and all(head[i::width].count(0) == len(head[i::width])
                                            for i in range(width) if i != lead):
                return name
    return None


@dataclass
class Records:
    """Records read by the csv module: first and last physical line of each, fields in COLUMNS order
    (as read when a record does not have five)."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    recs: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.recs)


@dataclass
class Lines:
    """Records of a block without quotes, NUL bytes or bare CRs, valid UTF-8: one physical line
    each, split on commas by Arrow (the common case, and the fast one)."""

    line: np.ndarray      # physical line number of each record
    text: pa.Array        # each record's line, without its line end
    fields: pa.Array      # list<string>: the record's fields in file order
    order: list[int]      # positions of COLUMNS among the fields

    def __len__(self) -> int:
        return len(self.line)

    def slice(self, start: int, length: int) -> "Lines":
        return Lines(self.line[start:start + length], self.text.slice(start, length),
                     self.fields.slice(start, length), self.order)


def batches(src: Source, max_line_bytes: int, batch_rows: int, fast: bool = True) -> Iterator[Records | Lines]:
    """The records after the header, in batches of about ``batch_rows``; blank lines hold none.

    The header is checked here: columns are matched by name (case and surrounding spaces
    ignored, any order); a missing, duplicated or unknown column rejects the file. Blocks of plain
    lines are split by Arrow; from the first quote character on (a quoted field may span lines
    and blocks), and for any block the fast path cannot read exactly as the csv module would,
    records come from the csv module. Both give the same records (tests/test_hostile_input.py).
    """
    csv.field_size_limit(max_line_bytes)
    _check_separator(src)
    reader = csv.reader(_decoded_lines(src, src.stream, max_line_bytes), strict=True)
    not_text = FileRejected(src.file_name, "the first line is not UTF-8 text; this is not a CSV of trips "
                            "(a binary file, or text in another encoding?)", 1)
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise (not_text if 1 in src.bad_utf8_lines else _csv_error(src, e, 1, max_line_bytes)) from None
    if header is None:
        if src.text is not None and src.counter.bytes_read < 10:  # gzip's header alone has 10 bytes
            raise src.damaged(EOFError("the file ends within its gzip header"), 1)
        raise FileRejected(src.file_name, "the file is empty", 1)
    if 1 in src.bad_utf8_lines:
        raise not_text
    if not any(f.strip() for f in header):  # a blank first line: empty, if nothing but blank lines follow
        try:
            later = next((r for r in reader if any(f.strip() for f in r)), None)
        except csv.Error:  # something follows: the header's message below says what the first line lacks
            later = True
        if later is None:
            raise FileRejected(src.file_name, "the file is empty (it holds only blank lines)", 1)
    order = _column_order(src.file_name, header)
    line_no = reader.line_num  # the csv module reads no further than the record it returns
    if not fast:
        yield from _record_batches(src, src.stream, order, line_no + 1, batch_rows, max_line_bytes)
        return
    while True:
        block = _read_block(src, _block_size(batch_rows), max_line_bytes, line_no + 1)
        if not block:
            return
        if b'"' in block:
            rest = io.BufferedReader(_Prefixed(block, src.stream), buffer_size=_BUFFER)
            yield from _record_batches(src, rest, order, line_no + 1, batch_rows, max_line_bytes)
            return
        for piece in _pieces(block, 4 * batch_rows):
            lines = _plain_lines(piece, line_no + 1, order, max_line_bytes)
            if lines is None:
                yield from _record_batches(src, io.BytesIO(piece), order, line_no + 1, batch_rows, max_line_bytes)
            else:
                for i in range(0, len(lines), batch_rows):  # short lines: a block holds many records
                    yield lines.slice(i, batch_rows)
            line_no += piece.count(b"\n") + (not piece.endswith(b"\n"))


def _pieces(block: bytes, most_lines: int) -> Iterator[bytes]:
    """The block in pieces of at most ``most_lines`` lines, each ending at a line end (but for a
    last line without one). A block is read by size, and splitting it costs memory per line: a
    block of blank lines (millions in a few MB) would otherwise cost hundreds of MB."""
    if block.count(b"\n") <= most_lines:
        yield block
        return
    ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)[most_lines - 1::most_lines] + 1
    start = 0
    for end in ends.tolist():
        yield block[start:end]
        start = end
    if start < len(block):
        yield block[start:]


def _block_size(batch_rows: int) -> int:
    return batch_rows * 128


def most_good_rows_unread(src: Source, file_size: int, batch_rows: int, max_line_bytes: int) -> int | None:
    """At most how many good records the file can hold past those ``batches`` has yielded: its
    bytes not read yet, plus what the buffers may hold (a block, a line, a read-ahead buffer for
    each reader), over the fewest bytes of a good record. None for gzip (the text's size is not
    known before the end) or a file that grew while read."""
    if src.text is not None or not file_size or src.counter.bytes_read > file_size:
        return None
    buffered = 2 * (_BUFFER + _block_size(batch_rows) + max_line_bytes)
    return (file_size - src.counter.bytes_read + buffered) // MIN_GOOD_ROW_BYTES


def _read_block(src: Source, size: int, max_line_bytes: int, line: int) -> bytes:
    """About ``size`` bytes ending at a line end (or the end of the file), starting at ``line``."""
    parts: list[bytes] = []
    try:
        got = 0
        while got < size:  # in pieces, so that damaged gzip data is placed near its line
            piece = src.stream.read(min(1 << 16, size - got))
            if not piece:
                break
            parts.append(piece)
            got += len(piece)
        block = b"".join(parts)
        if block and not block.endswith(b"\n"):
            block += src.stream.readline(max_line_bytes + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise src.damaged(e, line + sum(p.count(b"\n") for p in parts)) from None
    return block


def _plain_lines(block: bytes, first_line: int, order: list[int], max_line_bytes: int) -> Lines | None:
    """The block's records split by Arrow, or None when the csv module must read it."""
    if b"\x00" in block:
        return None
    cr = block.count(b"\r")
    if cr and cr != block.count(b"\r\n"):
        return None
    try:
        text = pa.array([block], type=pa.binary()).cast(pa.string())  # checks UTF-8
    except pa.ArrowInvalid:
        return None
    lines = pc.split_pattern(text, "\n").flatten()
    if block.endswith(b"\n"):
        lines = lines.slice(0, len(lines) - 1)
    if cr:
        lines = pc.utf8_rtrim(lines, characters="\r")
    length = pc.binary_length(lines)
    if len(lines) and pc.max(length).as_py() + 2 > max_line_bytes:
        return None  # the csv path names the line that is too long
    number = np.arange(first_line, first_line + len(lines), dtype=np.int64)
    keep = pc.greater(length, 0)  # blank lines hold no record
    if not pc.all(keep).as_py():
        lines = lines.filter(keep)
        number = number[keep.to_numpy(zero_copy_only=False)]
    return Lines(number, lines, pc.split_pattern(lines, ","), order)


def _record_batches(src: Source, stream: BinaryIO, order: list[int], first_line: int, batch_rows: int,
                    max_line_bytes: int) -> Iterator[Records]:
    reader = csv.reader(_decoded_lines(src, stream, max_line_bytes, first_line), strict=True)
    offset, start = first_line - 1, first_line
    identity = order == list(range(5))
    batch = Records()
    try:
        for rec in reader:
            end = offset + reader.line_num
            if rec:
                batch.starts.append(start)
                batch.ends.append(end)
                batch.recs.append(rec if identity or len(rec) != 5 else [rec[i] for i in order])
                if len(batch) >= batch_rows:
                    yield batch
                    batch = Records()
            start = end + 1
    except csv.Error as e:
        err = _csv_error(src, e, start, max_line_bytes)
        err.records_before = len(batch)  # whole records of this batch before the broken one: read
        raise err from None
    if len(batch):
        yield batch


def _csv_error(src: Source, e: csv.Error, line: int, max_line_bytes: int) -> FileRejected:
    msg = str(e)
    if "field larger than field limit" in msg:  # a quote open over many lines: unclosed, or one huge field
        msg = (f"a quoted field starts here and runs past {max_line_bytes:,} bytes (TRIPS_MAX_LINE_BYTES): "
               "a quote that is never closed, or a field far too long for a trip")
    elif "unexpected end of data" in msg or "EOF" in msg:
        msg = "a quoted field starts here and is never closed (unterminated quote)"
    elif "new-line character" in msg:
        msg = "a bare carriage return (CR) inside an unquoted field; use LF or CRLF line ends"
    elif "expected after" in msg:  # "',' expected after '\"'": text after a closing quote
        msg = ("a quoted field has more text after its closing quote; quote the whole field and "
               'double the quotes inside it ("POI""NT")')
    return FileRejected(src.file_name, msg, line)


class _Prefixed(io.RawIOBase):
    """``head`` (bytes already read), then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head, self._stream = memoryview(head), stream

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(b))
        b[:len(data)] = data
        return len(data)


def clip(text: str, n: int = 80) -> str:
    """``text``, cut after ``n`` characters (for messages that quote the input)."""
    return text if len(text) <= n else text[:n] + "..."


_OTHER_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def _check_separator(src: Source) -> None:
    """A header without a comma that names the columns between semicolons, tabs or bars: a
    spreadsheet's export in a locale whose lists use them, said plainly (the csv module would
    see one odd field, or a quote followed by text)."""
    try:
        head = src.stream.peek(1 << 16)[: 1 << 16]
    except (OSError, EOFError, zlib.error):  # damaged gzip: the reading says where
        return
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff")
    if "," in first:
        return
    for sep, name in _OTHER_SEPARATORS.items():
        if sum(f.strip().strip('"').strip().lower() in COLUMNS for f in first.split(sep)) >= 3:
            raise FileRejected(src.file_name, f"the fields are separated by {name}, not commas: save the file as "
                               f"comma-separated CSV (columns {', '.join(COLUMNS)})", 1)


def _column_order(file_name: str, header: list[str]) -> list[int]:
    names = [h.strip().lower() for h in header]
    if not any(n in COLUMNS for n in names):  # blank, or a first line of data: no header at all
        raise FileRejected(file_name, "the first line must be a header naming the columns " + ", ".join(COLUMNS)
                           + (f" (found: {clip(', '.join(header), 120)})" if any(names) else ""), 1)
    seen: dict[str, int] = {}
    twice = sorted({n for i, n in enumerate(names) if n in names[:i]}, key=names.index)
    for i, n in enumerate(names):
        seen.setdefault(n, i)
    missing = [c for c in COLUMNS if c not in seen]
    if twice:  # with the columns missing too: one message for every problem of the header
        raise FileRejected(file_name, " and ".join(f"column '{n}' appears twice" for n in twice) + " in the header"
                           + (f"; missing: {', '.join(missing)}" if missing else ""), 1)
    if missing:
        raise FileRejected(
            file_name,
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} in the header "
            f"(found: {', '.join(header) or 'nothing'}; expected {', '.join(COLUMNS)})", 1)
    unknown = [header[i].strip() for i, n in enumerate(names) if n not in COLUMNS]
    if unknown:
        named = ", ".join(f"'{u}'" if u else "one with no name (a comma at the end of the header?)" for u in unknown)
        raise FileRejected(file_name, f"unexpected column{'s' if len(unknown) > 1 else ''} "
                           f"{named} in the header (expected exactly {', '.join(COLUMNS)})", 1)
    return [seen[c] for c in COLUMNS]
