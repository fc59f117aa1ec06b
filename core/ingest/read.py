"""Read: the bytes of a file -> CSV records with their physical line numbers.

Plain or gzip-compressed (detected by content), UTF-8 with or without a BOM, LF or CRLF line ends,
RFC 4180 quoting. Memory stays flat: one physical line is never longer than ``max_line_bytes``.
"""
from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

from ..errors import FileRejected

COLUMNS = ("region", "origin_coord", "destination_coord", "datetime", "datasource")
_GZIP_MAGIC = b"\x1f\x8b"


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


@dataclass
class Source:
    """An open file of trips: ``lines`` yields raw physical lines (bytes, with their ending)."""

    file_name: str
    counter: CountingReader
    stream: BinaryIO
    bad_utf8_lines: set[int] = field(default_factory=set)  # not UTF-8, or holding a NUL byte


def open_source(path: str, file_name: str | None = None) -> Source:
    """Open ``path``; gzip is recognised by its magic bytes, whatever the name."""
    file_name = file_name or str(path)
    counter = CountingReader(open(path, "rb"))
    buffered = io.BufferedReader(counter, buffer_size=1 << 20)
    head = buffered.peek(2)[:2]
    stream: BinaryIO = buffered
    if head == _GZIP_MAGIC:
        stream = io.BufferedReader(gzip.GzipFile(fileobj=buffered, mode="rb"), buffer_size=1 << 20)
    return Source(file_name, counter, stream)


def _decoded_lines(src: Source, max_line_bytes: int) -> Iterator[str]:
    """Physical lines as text; a line that is not UTF-8 is noted and decoded with replacements."""
    readline = src.stream.readline
    line_no = 0
    while True:
        try:
            raw = readline(max_line_bytes + 1)
        except (OSError, EOFError, zlib.error) as e:  # corrupt or truncated gzip
            raise FileRejected(src.file_name, f"the compressed data is damaged ({e})", line_no + 1) from None
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
            if b"\x00" in raw:
                raise FileRejected(src.file_name, "this is not a text file (it contains NUL bytes)", 1)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            if b"\x00" in raw:
                raise FileRejected(src.file_name, "this is not a text file (it contains NUL bytes)", line_no) from None
            src.bad_utf8_lines.add(line_no)
            yield raw.decode("utf-8", errors="replace")
            continue
        if "\x00" in text:
            # Valid UTF-8, but PostgreSQL text cannot hold NUL: the record is rejected (validate
            # tells why), rather than failing the whole file at COPY time.
            src.bad_utf8_lines.add(line_no)
        yield text


def records(src: Source, max_line_bytes: int) -> Iterator[tuple[int, int, list[str]]]:
    """Yield ``(first_line, last_line, fields)`` for each CSV record after the header.

    The header is checked here: columns are matched by name (case and surrounding spaces
    ignored, any order); a missing, duplicated or unknown column rejects the file. Records come
    back reordered to ``COLUMNS`` when they have five fields, as read otherwise.
    """
    csv.field_size_limit(max_line_bytes)
    lines = _decoded_lines(src, max_line_bytes)
    reader = csv.reader(lines, strict=True)
    start = 1
    try:
        header = next(reader, None)
        if header is None:
            raise FileRejected(src.file_name, "the file is empty")
        if 1 in src.bad_utf8_lines:
            raise FileRejected(src.file_name, "the first line is not UTF-8 text; this is not a CSV of trips "
                               "(a binary file, or text in another encoding?)", 1)
        order = _column_order(src.file_name, header)
        start = reader.line_num + 1
        if order == list(range(5)):
            for rec in reader:
                end = reader.line_num
                yield start, end, rec
                start = end + 1
        else:
            for rec in reader:
                end = reader.line_num
                yield start, end, [rec[i] for i in order] if len(rec) == 5 else rec
                start = end + 1
    except csv.Error as e:
        msg = str(e)
        if "field larger than field limit" in msg or "unexpected end of data" in msg or "EOF" in msg:
            msg = "a quoted field starts here and is never closed (unterminated quote)"
        elif "new-line character" in msg:
            msg = "a bare carriage return (CR) inside an unquoted field; use LF or CRLF line ends"
        raise FileRejected(src.file_name, msg, start) from None


def _column_order(file_name: str, header: list[str]) -> list[int]:
    names = [h.strip().lower() for h in header]
    if not any(names):
        raise FileRejected(file_name, "the first line must be a header naming the columns " + ", ".join(COLUMNS), 1)
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            raise FileRejected(file_name, f"column '{n}' appears twice in the header", 1)
        seen[n] = i
    missing = [c for c in COLUMNS if c not in seen]
    if missing:
        raise FileRejected(
            file_name,
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} in the header "
            f"(found: {', '.join(header) or 'nothing'}; expected {', '.join(COLUMNS)})", 1)
    unknown = [header[i].strip() for i, n in enumerate(names) if n not in COLUMNS]
    if unknown:
        raise FileRejected(file_name, f"unexpected column{'s' if len(unknown) > 1 else ''} "
                           f"{', '.join(unknown)} in the header (expected exactly {', '.join(COLUMNS)})", 1)
    return [seen[c] for c in COLUMNS]
