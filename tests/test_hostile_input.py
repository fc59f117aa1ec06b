"""Hostile input: a corpus of malformed, tricky and malicious files, each with its expected outcome.

Each case states what must happen: the job's status, the rows loaded, and for each reject its
physical line, column and reason code; a file that cannot be loaded fails with an error naming
the file and, where there is one, the line. Line numbers are physical lines of the file (a quoted
field spanning lines counts each line; a reject points at the record's first line).
Big inputs (a line above ``max_line_bytes``, a 1 GB line, gzip bombs) must end in bounded time,
with the ingesting process staying under 300 MB of memory.
"""
import csv
import gzip
import json
import os
import subprocess
import sys
import threading
import time
import zlib

import pytest

import core
from conftest import HEADER, ROOT, sql_rows, sql_value
from core.config import settings
from core.errors import FileRejected
from core.ingest.read import batches, open_source

H = HEADER.encode()
MAX_LINE = settings().max_line_bytes
RSS_LIMIT_MB = 300


def r(region="Prague", o="POINT (14.4 50.0)", d="POINT (14.5 50.1)", when="2018-05-28 09:03:40",
      source="funny_car", end="\n") -> bytes:
    """One record with raw field texts (nothing quoted)."""
    return f"{region},{o},{d},{when},{source}{end}".encode()


GOOD = r()


def trips(url):
    return sql_value(url)


# -- the corpus ---------------------------------------------------------------------------------
# (id, bytes, max_bad_rows, status, rows_loaded, [(line, column, reason)], error fragments[, mark])

CASES = [
    # encodings and line ends
    ("bom", b"\xef\xbb\xbf" + H + GOOD * 2, "0", "completed", 2, [], []),
    ("crlf", (H + GOOD * 3).replace(b"\n", b"\r\n"), "0", "completed", 3, [], []),
    ("mixed_lf_crlf", H.replace(b"\n", b"\r\n") + GOOD + GOOD.replace(b"\n", b"\r\n") + GOOD, "0",
     "completed", 3, [], []),
    ("bom_crlf_no_final_newline", b"\xef\xbb\xbf" + H.replace(b"\n", b"\r\n") + GOOD + GOOD[:-1], "0",
     "completed", 2, [], []),
    ("old_mac_cr_only_fails_line_1", (H + GOOD * 2).replace(b"\n", b"\r"), "0", "failed", 0, [],
     ["line 1", "carriage return"]),
    ("bare_cr_inside_a_field_fails_its_line", H + GOOD + b"Pra\rgue" + GOOD[6:], "0", "failed", 0, [],
     ["line 3", "carriage return"]),
    ("latin1_bytes_rejected_per_record", H + GOOD + r("Z\xfcrich").decode().encode("latin-1") + GOOD
     + r("K\xf6ln").decode().encode("latin-1"), "5", "completed", 2,
     [(3, None, "invalid_encoding"), (5, None, "invalid_encoding")], []),
    ("nul_and_bad_utf8_in_one_record_reject_only_it", H + GOOD + b"Z\xfcr\x00ich" + GOOD[6:] + GOOD, "5", "completed",
     2, [(3, None, "invalid_encoding")], []),
    ("nul_byte_in_a_record_rejects_only_that_record", H + GOOD + b"Pra\x00gue" + GOOD[6:] + GOOD
     + GOOD.replace(b"funny_car", b"funny\x00car"), "5", "completed", 2,
     [(3, None, "invalid_encoding"), (5, None, "invalid_encoding")], []),
    ("overlong_utf8_and_surrogates_rejected", H + GOOD + b"P\xc0\xaf" + GOOD[6:] + b"P\xed\xa0\x80"
     + GOOD[6:], "5", "completed", 1, [(3, None, "invalid_encoding"), (4, None, "invalid_encoding")], []),
    ("utf16_file_is_named_as_such", ("\ufeff" + HEADER).encode("utf-16-le") + GOOD, "0", "failed", 0, [],
     ["line 1", "this is UTF-16 text, not UTF-8; save the file as UTF-8"]),
    ("utf16_big_endian_too", ("\ufeff" + HEADER).encode("utf-16-be"), "0", "failed", 0, [], ["line 1", "UTF-16"]),
    ("utf32_is_named_as_such", ("\ufeff" + HEADER).encode("utf-32-le"), "0", "failed", 0, [], ["line 1", "this is UTF-32 text"]),
    ("utf16_without_bom_is_named_too", HEADER.encode("utf-16-le") + GOOD.decode().encode("utf-16-le"), "0", "failed",
     0, [], ["line 1", "this is UTF-16 text, not UTF-8"]),
    ("utf16_big_endian_without_bom", HEADER.encode("utf-16-be"), "0", "failed", 0, [], ["line 1", "this is UTF-16 text"]),
    ("utf32_without_bom", HEADER.encode("utf-32-le"), "0", "failed", 0, [], ["line 1", "this is UTF-32 text"]),
    ("a_nul_in_one_field_is_not_utf16", H + GOOD + b"Pra\x00gue,POINT (14.4 50.0),POINT (14.5 50.1),2018-05-28 09:03:40,x\n",
     "5", "completed", 1, [(3, None, "invalid_encoding")], []),
    ("unicode_names_are_kept", H + r("Nürnberg", source="cheap_mobile ✓"), "0", "completed", 1, [], []),
    # quoting
    ("quoted_commas_and_quotes", H + b'"Prague, CZ",POINT (14.4 50.0),POINT (14.5 50.1),'
     b'2018-05-28 09:03:40,"say ""hi"""\n', "0", "completed", 1, [], []),
    ("quote_all", H + b'"Prague","POINT (14.4 50.0)","POINT (14.5 50.1)","2018-05-28 09:03:40","x"\n',
     "0", "completed", 1, [], []),
    ("embedded_newlines_count_physical_lines",
     H + b'"Pra\ngue",POINT (1 2),POINT (1 2),2018-05-28 09:03:40,x\n'    # lines 2-3, good
     + r(o="POINT (200 1)")                                                  # line 4
     + b'"Tu\n\nrin",POINT (1 2),POINT (1 2),2018-02-30 00:00:00,x\n'     # lines 5-7
     + b'"a",POINT (1 2),"POINT\r\n(1 2)",2018-05-28 09:03:40,x\n'         # lines 8-9, good (WKT allows)
     + r(when="junk"),                                                       # line 10
     "5", "completed", 2,
     [(4, "origin_coord", "out_of_range"), (5, "datetime", "bad_datetime"), (10, "datetime", "bad_datetime")],
     []),
    ("blank_lines_are_skipped_but_counted", H + b"\n" + GOOD + b"\r\n\n" + r(d="POINT (1 91)"), "5",
     "completed", 1, [(6, "destination_coord", "out_of_range")], []),
    ("unterminated_quote_fails_at_its_line", H + GOOD * 3 + b'"Prague,POINT (1 2)\n' + GOOD * 3, "0",
     "failed", 0, [], ["line 5", "never closed"]),
    ("text_after_closing_quote_fails_at_its_line", H + GOOD + b'"Pra"gue' + GOOD[6:], "0", "failed", 0, [],
     ["line 3", "more text after its closing quote"]),
    ("binary_with_a_cr_in_its_first_line_is_not_text", b"\x80\x9f\xfe" * 10 + b"\r\xff\xfe\n" + GOOD, "0",
     "failed", 0, [], ["line 1", "not UTF-8 text"]),
    ("look_alike_digits_and_spaces_rejected", H + r(o="POINT (\u0661\u0664 50)") + r(d="POINT (14\u00a0 50)")
     + r(when="\uff12018-05-28 09:03:40") + r(when="2018-05-28\u00a009:03:40") + r(o="POINT (14.4\x0b50.0)")
     + GOOD, "5", "completed", 1,
     [(2, "origin_coord", "invalid_point"), (3, "destination_coord", "invalid_point"),
      (4, "datetime", "bad_datetime"), (5, "datetime", "bad_datetime"), (6, "origin_coord", "invalid_point")], []),
    # fields
    ("missing_and_extra_fields", H + GOOD + b"Prague,POINT (1 2),POINT (1 2),2018-05-28 09:03:40\n"
     + GOOD[:-1] + b",extra\n" + GOOD[:-1] + b",\n" + b"just one field\n", "5", "completed", 1,
     [(3, None, "field_count"), (4, None, "field_count"), (5, None, "field_count"), (6, None, "field_count")],
     []),
    ("empty_region_and_datasource", H + r(region="  ") + r(source="") + GOOD, "5", "completed", 1,
     [(2, "region", "empty_value"), (3, "datasource", "empty_value")], []),
    ("repeated_header_line_is_a_reject", H + GOOD + H + GOOD, "5", "completed", 2,
     [(3, "origin_coord", "invalid_point")], []),
    # headers
    ("header_case_spaces_order_quotes",
     b'" DataSource ", Region ,DATETIME,destination_coord ,ORIGIN_COORD\n'
     b"funny_car,Prague,2018-05-28 09:03:40,POINT (14.5 50.1),POINT (14.4 50.0)\n", "0",
     "completed", 1, [], []),
    ("header_missing_column", b"region,origin_coord,datetime,datasource\n" + GOOD, "0", "failed", 0, [],
     ["line 1", "missing column destination_coord"]),
    ("header_unknown_column", H[:-1] + b",notes\n" + GOOD[:-1] + b",x\n", "0", "failed", 0, [],
     ["line 1", "unexpected column 'notes'"]),
    ("header_trailing_comma", H[:-1] + b",\n" + GOOD[:-1] + b",\n", "0", "failed", 0, [],
     ["line 1", "one with no name (a comma at the end of the header?)"]),
    ("header_duplicate_column", b"region,Region,origin_coord,destination_coord,datetime,datasource\n",
     "0", "failed", 0, [], ["line 1", "'region' appears twice"]),
    ("blank_lines_only_are_an_empty_file", b"\xef\xbb\xbf\r\n \n\n\t\n", "0", "failed", 0, [],
     ["line 1: the file is empty (it holds only blank lines)"]),
    ("a_blank_first_line_before_the_header_is_no_header", b"\n" + H + GOOD, "0", "failed", 0, [],
     ["line 1: the first line must be a header"]),
    ("header_duplicate_and_missing_columns_both_said", b"region,origin_coord,destination_coord,datetime, REGION \n"
     + GOOD, "0", "failed", 0, [], ["line 1: column 'region' appears twice in the header; missing: datasource"]),
    ("no_header_data_first", GOOD * 3, "0", "failed", 0, [], ["line 1", "must be a header", "found: Prague"]),
    ("no_header_repeated_points", r(d="POINT (14.4 50.0)") * 2, "0", "failed", 0, [], ["line 1", "must be a header"]),
    ("blank_first_line", b"\n" + H + GOOD, "0", "failed", 0, [], ["line 1", "header"]),
    ("empty_file", b"", "0", "failed", 0, [], ["line 1", "the file is empty"]),
    # A header alone is an empty file of trips: it fails, naming the line where rows should start.
    ("header_only_fails_as_empty", H, "0", "failed", 0, [], ["line 2", "a header but no rows of trips"]),
    ("header_only_without_newline", H[:-1], "0", "failed", 0, [], ["line 2", "a header but no rows of trips"]),
    ("every_row_rejected_within_limit_completes_with_zero_rows", H + r(o="POINT (1)") + r(when="x"), "5",
     "completed", 0, [(2, "origin_coord", "invalid_point"), (3, "datetime", "bad_datetime")], []),
    # WKT
    ("invalid_wkt", H + GOOD + r(o="POINT (14.4)") + r(o="POINT 14.4 50") + r(d="POINT (a b)")
     + r(d="") + r(o="POINT EMPTY") + r(o="SRID=4326;POINT (1 2)") + r(o="POINT (1,2)")
     + r(d="POINT (0x10 1)") + r(o="POINT ((1 2))") + r(d="14.4 50.0"), "20", "completed", 1,
     [(3, "origin_coord", "invalid_point"), (4, "origin_coord", "invalid_point"),
      (5, "destination_coord", "invalid_point"), (6, "destination_coord", "invalid_point"),
      (7, "origin_coord", "invalid_point"), (8, "origin_coord", "invalid_point"),
      (9, None, "field_count"), (10, "destination_coord", "invalid_point"),
      (11, "origin_coord", "invalid_point"), (12, "destination_coord", "invalid_point")], []),
    ("wkt_spacing_and_case_variants_accepted", H + r(o="point(14.4 50.0)") + r(d="  POINT  ( 14.5   50.1 ) ")
     + r(o="Point (+14.4 5e1)") + r(d="POINT (.5 -.5)"), "0", "completed", 4, [], []),
    ("wrong_geometry_types", H + GOOD + b'Prague,"LINESTRING (1 2, 3 4)",POINT (1 2),2018-05-28 09:03:40,x\n'
     + r(o="POINT Z (1 2 3)") + r(d="POINT (1 2 3)") + r(o="POINTM (1 2 3)") + r(d="POLYGON EMPTY")
     + b'Prague,POINT (1 2),"MULTIPOINT ((1 2), (3 4))",2018-05-28 09:03:40,x\n', "20", "completed", 1,
     [(3, "origin_coord", "wrong_geometry"), (4, "origin_coord", "wrong_geometry"),
      (5, "destination_coord", "wrong_geometry"), (6, "origin_coord", "wrong_geometry"),
      (7, "destination_coord", "wrong_geometry"), (8, "destination_coord", "wrong_geometry")], []),
    ("out_of_range_coordinates", H + r(o="POINT (180 90)") + r(d="POINT (-180 -90)")
     + r(o="POINT (180.000001 0)") + r(o="POINT (0 -90.5)") + r(d="POINT (-181 0)") + r(d="POINT (1 1e3)"),
     "20", "completed", 2,
     [(4, "origin_coord", "out_of_range"), (5, "origin_coord", "out_of_range"),
      (6, "destination_coord", "out_of_range"), (7, "destination_coord", "out_of_range")], []),
    ("nan_and_infinite_coordinates", H + GOOD + r(o="POINT (NaN 1)") + r(o="POINT (1 nan)")
     + r(d="POINT (inf 1)") + r(d="POINT (1 -Infinity)") + r(o="POINT (1e999 1)") + r(o="POINT (1 -1e400)"),
     "20", "completed", 1,
     [(3, "origin_coord", "not_finite"), (4, "origin_coord", "not_finite"),
      (5, "destination_coord", "not_finite"), (6, "destination_coord", "not_finite"),
      (7, "origin_coord", "not_finite"), (8, "origin_coord", "not_finite")], []),
    # datetimes
    ("bad_datetimes", H + GOOD + r(when="2018-02-30 10:00:00") + r(when="2018-05-28 25:00:00")
     + r(when="garbage") + r(when="2019-02-29 00:00:00") + r(when="2018-05-28 24:00:00")
     + r(when="2018-12-31 23:59:60") + r(when="2018-05-28 09:03:40Z") + r(when="2018-05-28 09:03:40+02:00")
     + r(when="0000-01-01 00:00:00") + r(when="") + r(when="28/05/2018 09:03") + r(when="2018-5-28 9:03:40")
     + r(when="2018-05-28") + r(when="2018-13-01 00:00:00") + r(when="2018-05-28 09:60:00"),
     "20", "completed", 1, [(i, "datetime", "bad_datetime") for i in range(3, 18)], []),
    ("good_datetime_variants", H + r(when="2016-02-29 23:59:59") + r(when="2018-05-28T09:03:40")
     + r(when="2018-05-28 09:03:40.123456") + r(when=" 2018-05-28 09:03:40 ") + r(when="0001-01-01 00:00:00")
     + r(when="9999-12-31 23:59:59"), "0", "completed", 6, [], []),
    ("fractions_past_microseconds_are_cut_not_refused", H + r(when="2018-05-31 23:59:59.9999999")
     + r(when="2018-05-31T23:59:59.999999999") + r(when="2018-05-31 10:00:00.1234567890123"), "0", "completed", 3,
     [], []),
    ("names_longer_than_200_characters_reject_their_row", H + GOOD + r("R" * 201) + r(source="s" * 3000)
     + r("R" * 200) + GOOD, "5", "completed", 3, [(3, "region", "too_long"), (4, "datasource", "too_long")], []),
    # printed raw, an ESC in a name drives the terminal of whoever lists the regions (a black-box check)
    ("control_characters_in_names_reject_their_row", H + GOOD + r("\x1b[2J\x1b]0;pwned\x07Esc") + r(source="ds\x1a")
     + r("Form\x0cfeed") + r("C1\x9b1m") + r("\t Prague \t") + r("Zürich ‌ok") + b'"Tab\tand\nline",' + GOOD[7:]
     + GOOD, "5", "completed", 5,  # tabs and line ends stay (a quoted field may hold them), trimmed at the ends
     [(3, "region", "control_character"), (4, "datasource", "control_character"), (5, "region", "control_character"),
      (6, "region", "control_character")], []),
    # not a CSV at all
    ("png_named_csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256)) * 8, "0",
     "failed", 0, [], ["line 1", "not a CSV"]),
    ("elf_binary", b"\x7fELF\x02\x01\x01\x00" + bytes(200), "0", "failed", 0, [], ["line 1", "not a text file"]),
    ("zip_named_csv", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)), "0", "failed", 0, [],
     ["line 1"]),
    ("truncated_gzip", gzip.compress(H + GOOD * 1000)[:-8], "0", "failed", 0, [], ["compressed data is damaged"]),
    ("gzip_with_trailing_garbage", gzip.compress(H + GOOD) + b"garbage!", "0", "failed", 0, [],
     ["line 3", "compressed data is damaged (bytes that are not gzip data follow it)"]),
    ("gzip_cut_within_its_header", gzip.compress(H + GOOD)[:6], "0", "failed", 0, [],
     ["line 1", "compressed data is damaged (the file ends within its gzip header)"]),
    ("gzip_of_nothing_is_empty", gzip.compress(b""), "0", "failed", 0, [], ["line 1", "the file is empty"]),
    ("json_named_csv", b'{"region": "Prague"}\n', "0", "failed", 0, [], ["line 1", "must be a header"]),
]


PARAMS = [pytest.param(c[:7], id=c[0], marks=c[7:]) for c in CASES]


def test_fractions_of_a_second_past_microseconds_are_cut(db_url, write_csv):
    """Pass: 7 or 9 digits of a second are stored to the microsecond, cut rather than rounded, so
    23:59:59.9999999 stays on its day (and its ISO week)."""
    core.ingest_file(write_csv(H + r(when="2018-06-03 23:59:59.9999999")), url=db_url)
    assert core.stats(url=db_url)["last_datetime"] == "2018-06-03 23:59:59.999999"


def test_a_file_of_known_names_draws_no_new_ids(db_url, write_csv):
    """Pass: loading files whose regions and datasources are already stored draws no ids from
    their sequences (ids are smallint: drawing one per name per file would run out)."""
    first = write_csv(H + r("A", source="x") + r("B", source="y"), name="first.csv")
    assert core.ingest_file(first, url=db_url).status == "completed"
    seq = ("SELECT (SELECT last_value FROM regions_region_id_seq), "
           "(SELECT last_value FROM datasources_datasource_id_seq)")
    before = tuple(sql_rows(db_url, seq)[0])
    for _ in range(3):
        assert core.ingest_file(first, url=db_url, force=True).status == "completed"
    assert tuple(sql_rows(db_url, seq)[0]) == before


def test_a_missing_file_fails_its_job_with_a_reason(db_url, tmp_path):
    """Pass: a path that does not exist, a directory (also written with a trailing slash) or a
    named pipe fails its job naming it and saying why, at once (a pipe is not waited on: it could
    be read only once, and a file is read twice)."""
    res = core.ingest_file(str(tmp_path / "nowhere.csv"), url=db_url)
    assert res.status == "failed" and res.error.startswith("nowhere.csv: cannot read the file"), res.error
    folder = tmp_path / "folder"
    folder.mkdir()
    for path in (str(folder), f"{folder}/"):
        res = core.ingest_file(path, url=db_url)
        assert (res.status, res.file) == ("failed", "folder") and res.error.startswith("folder: a directory"), res.error
    os.mkfifo(tmp_path / "pipe.csv")
    res = core.ingest_file(str(tmp_path / "pipe.csv"), url=db_url)
    assert res.status == "failed" and res.error.startswith("pipe.csv: not a regular file"), res.error


def test_more_names_than_ids_fail_the_file_with_a_reason(db_url, write_csv):
    """Pass: when the smallint ids of regions run out, the file fails saying so, nothing of it is
    loaded, and a file of known names still loads."""
    assert core.ingest_file(write_csv(H + GOOD, name="known.csv"), url=db_url).status == "completed"
    sql_rows(db_url, "SELECT setval('regions_region_id_seq', 32767)")
    res = core.ingest_file(write_csv(H + r("New one") + r("New two"), name="new.csv"), url=db_url)
    assert res.status == "failed" and "no region ids left (32,767 at most)" in res.error, res.error
    assert trips(db_url) == 1
    assert core.ingest_file(write_csv(H + GOOD * 2, name="known2.csv"), url=db_url).status == "completed"


def test_ewkt_with_an_srid_is_refused_with_a_message_that_says_so(db_url, write_csv):
    """Pass: "SRID=4326;POINT (...)" (PostGIS's EWKT) is not the plain WKT of the format: its reject
    says what the prefix is and what is expected, instead of a generic "not a valid point"."""
    res = core.ingest_file(write_csv(H + GOOD + r(o="SRID=4326;POINT (14.4 50.1)")), url=db_url, max_bad_rows="5")
    (x,) = core.rejects(res.job_id, url=db_url)
    assert (x["line"], x["column"], x["reason"]) == (3, "origin_coord", "invalid_point")
    assert "SRID prefix" in x["message"] and "POINT (" in x["message"]


def test_three_values_of_which_one_is_not_a_number_are_not_called_z_or_m(db_url, write_csv):
    """Pass: "POINT (x 7.68 45.08)" (a stray word before the numbers) is rejected for its value that
    is not a number, named; only three or four numbers make a point with Z or M coordinates."""
    res = core.ingest_file(write_csv(H + GOOD + r(o="POINT (x 7.68 45.08)") + r(d="POINT (16.36 48.20 abc)")
                                     + r(o="POINT (16.36 48.20 190)")), url=db_url, max_bad_rows="5")
    x, y, z = core.rejects(res.job_id, url=db_url)
    assert (x["line"], x["column"], x["reason"]) == (3, "origin_coord", "invalid_point")
    assert "not a number (x)" in x["message"] and "Z or M" not in x["message"]
    assert (y["line"], y["column"], y["reason"]) == (4, "destination_coord", "invalid_point")
    assert "not a number (abc)" in y["message"]
    assert (z["line"], z["reason"]) == (5, "wrong_geometry") and "Z or M" in z["message"]


@pytest.mark.parametrize("case", PARAMS)
def test_corpus_case_has_its_expected_outcome(db_url, write_csv, case):
    """Pass: status, rows loaded (and in the database), rejects (line, column, reason) as listed; a
    failed file loads nothing and its error names the file and the listed fragments (the line)."""
    name, data, max_bad, status, loaded, expected_rejects, error_parts = case
    path = write_csv(data, name=f"{name}.csv")
    started = time.monotonic()
    res = core.ingest_file(path, url=db_url, max_bad_rows=max_bad)
    assert time.monotonic() - started < 30
    assert (res.status, res.rows_loaded) == (status, loaded), res.error
    assert trips(db_url) == loaded
    rej = core.rejects(res.job_id, url=db_url)
    assert [(x["line"], x["column"], x["reason"]) for x in rej] == expected_rejects
    assert res.rows_rejected == len(expected_rejects)
    for x in rej:
        assert x["message"] and "\x00" not in x["message"]
    if status == "failed":
        assert res.error.startswith(f"{name}.csv"), res.error
        for part in error_parts:
            assert part in res.error, res.error
        assert "internal error" not in res.error
    else:
        assert res.error is None


def test_values_survive_quoting_and_header_reordering(db_url, write_csv):
    """Pass: a quoted comma, doubled quotes, a non-ASCII name and reordered header columns are
    stored as the exact values of the file."""
    data = (b'\xef\xbb\xbf" DataSource ", Region ,DATETIME,destination_coord ,ORIGIN_COORD\r\n'
            b'"say ""hi""","Prague, CZ",2018-05-28 09:03:40,POINT (14.5 50.1),POINT (14.4 50.0)\r\n'
            + "cheap_mobile,Nürnberg,2018-05-29T10:00:00.5,POINT (11 49.5),POINT (-0.5 -33.25)\r\n".encode())
    res = core.ingest_file(write_csv(data), url=db_url)
    assert res.status == "completed" and res.rows_loaded == 2
    got = sql_rows(db_url, "SELECT r.name, s.name, ts::text, ST_X(origin), ST_Y(origin), ST_X(destination), "
                        "ST_Y(destination) FROM trips t JOIN regions r USING (region_id) "
                        "JOIN datasources s USING (datasource_id) ORDER BY ts")
    assert [tuple(g) for g in got] == [
        ("Prague, CZ", 'say "hi"', "2018-05-28 09:03:40", 14.4, 50.0, 14.5, 50.1),
        ("Nürnberg", "cheap_mobile", "2018-05-29 10:00:00.5", -0.5, -33.25, 11.0, 49.5)]


def test_invalid_encoding_reason_for_every_bad_record_of_a_batch(db_url, write_csv):
    """Pass: every non-UTF-8 record is rejected as invalid_encoding, wherever it sits in a batch
    (a bug gave this reason only to the first record of a batch, 'invalid_row' to the others)."""
    bad = r("Z\xfcrich").decode().encode("latin-1")
    res = core.ingest_file(write_csv(H + (GOOD + bad) * 50), url=db_url, max_bad_rows="50")
    assert res.status == "completed" and res.rows_loaded == 50
    reasons = {x["reason"] for x in core.rejects(res.job_id, url=db_url)}
    assert reasons == {"invalid_encoding"}


# -- long lines ---------------------------------------------------------------------------------

def test_line_just_above_max_line_bytes_fails_naming_its_line(db_url, write_csv):
    """Pass: a line of max_line_bytes + 1 bytes (no newline) fails the file at line 3 in seconds;
    a line of exactly max_line_bytes bytes is read (and rejected as a record, not the file)."""
    fits = b"x" * (MAX_LINE - 1) + b"\n"
    ok = core.ingest_file(write_csv(H + GOOD + fits + GOOD, name="fits.csv"), url=db_url, max_bad_rows="1")
    assert ok.status == "completed" and ok.rows_loaded == 2 and ok.rows_rejected == 1
    assert core.rejects(ok.job_id, url=db_url)[0]["line"] == 3
    started = time.monotonic()
    res = core.ingest_file(write_csv(H + GOOD + b"x" * (MAX_LINE + 1), name="long.csv"), url=db_url)
    assert time.monotonic() - started < 10
    assert res.status == "failed" and res.error.startswith("long.csv, line 3:") and "longer than" in res.error
    assert trips(db_url) == 2


def test_quoted_field_longer_than_the_limit_fails_as_unterminated(db_url, write_csv):
    """Pass: a quote opened on line 3 and never closed, over many short lines adding up to more
    than max_line_bytes, fails the file at line 3 instead of buffering the rest of the file."""
    data = H + GOOD + b'"Prague' + (b"y" * 1000 + b"\n") * (MAX_LINE // 1000 + 50)
    res = core.ingest_file(write_csv(data), url=db_url)
    assert res.status == "failed" and "line 3" in res.error and "never closed" in res.error


def test_closed_quoted_field_longer_than_the_limit_names_the_limit(db_url, write_csv):
    """Pass: a quote opened on line 3 and closed, over many short lines adding up to more than
    max_line_bytes, fails the file at line 3 naming the limit, not as a quote never closed."""
    data = (H + GOOD + b'"Prague' + (b"y" * 1000 + b"\n") * (MAX_LINE // 1000 + 50)
            + b'",POINT (14.4 50.05),POINT (14.45 50.1),2021-04-02 08:00:00,ds\n' + GOOD)
    res = core.ingest_file(write_csv(data), url=db_url)
    assert res.status == "failed" and "line 3" in res.error
    assert "runs past" in res.error and "TRIPS_MAX_LINE_BYTES" in res.error
    assert trips(db_url) == 0


def test_one_gigabyte_line_is_refused_after_reading_about_max_line_bytes(tmp_path):
    """Pass: a 1 GB line streamed through a pipe (never on disk) is refused at line 2 after the
    reader has consumed no more than a few times max_line_bytes."""
    fifo = tmp_path / "endless.csv"
    os.mkfifo(fifo)
    written = [0]

    def feed():
        chunk = b"z" * (1 << 20)
        try:
            with open(fifo, "wb") as f:
                f.write(H)
                for _ in range(1024):  # 1 GB, lazily
                    f.write(chunk)
                    written[0] += len(chunk)
        except BrokenPipeError:
            pass

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    src = open_source(str(fifo), "endless.csv")
    with pytest.raises(FileRejected) as e:
        for _ in batches(src, MAX_LINE, 1000):
            pass
    src.stream.close()
    t.join(10)
    assert not t.is_alive()
    assert e.value.line == 2 and "longer than" in e.value.reason
    assert written[0] <= 8 * max(MAX_LINE, 1 << 20)


# -- memory-bounded: a process ingesting a hostile file stays under 300 MB --------------------

def _ingest_in_subprocess(path, db_url, *extra):
    """Run ``python -m core ingest --json`` on ``path``; return (result dict, seconds, max RSS in MB)."""
    out = open(str(path) + ".out", "w+")
    lines, seconds, peak_mb = _cli_measured(db_url, out, "ingest", "--json", str(path), *extra)
    out.close()
    assert lines, "no output"
    return json.loads(lines[-1]), seconds, peak_mb


def _cli_measured(db_url, out, *args):
    """Run ``python -m core ARGS`` with its stdout into the open file ``out``; return (its lines,
    seconds, max RSS in MB)."""
    env = {"DATABASE_URL": db_url, "PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "core", *args],
                            stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    # VmHWM of the child's own address space (ru_maxrss would include the forking pytest's size,
    # which Linux carries across fork and exec).
    peak_kb = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                peak_kb = max(peak_kb, next(int(l.split()[1]) for l in f if l.startswith("VmHWM")))
        except (OSError, StopIteration):
            pass
        time.sleep(0.02)
    seconds = time.monotonic() - started
    out.seek(0)
    return out.read().strip().splitlines(), seconds, peak_kb / 1024


def test_hundreds_of_thousands_of_rejects_are_listed_in_bounded_memory(db_url, tmp_path):
    """Pass: ``rejects JOB`` (JSON) and ``rejects JOB --csv`` of a job with 300,000 rejects list
    every one, by line, with the process under 150 MB: they are read from a server-side cursor and
    written one at a time (listing them whole took about 0.8 KB each: 680-840 MB for a million)."""
    path = tmp_path / "junk.csv"
    path.write_bytes(H + GOOD + b"x\n" * 300_000)
    res, _, _ = _ingest_in_subprocess(path, db_url, "--max-bad-rows", "100%")
    assert res["status"] == "completed" and (res["rows_loaded"], res["rows_rejected"]) == (1, 300_000), res
    expected = [(line, "field_count") for line in range(3, 300_003)]
    with open(tmp_path / "rejects.json", "w+") as out:
        lines, _, rss = _cli_measured(db_url, out, "rejects", str(res["job_id"]))
    listed = json.loads("\n".join(lines))
    assert [(r["line"], r["reason"]) for r in listed] == expected
    assert rss < 150, rss
    with open(tmp_path / "rejects.csv", "w+", newline="") as out:
        lines, _, rss = _cli_measured(db_url, out, "rejects", str(res["job_id"]), "--csv")
    rows = list(csv.DictReader(lines))
    assert [(int(r["line"]), r["reason"]) for r in rows] == expected
    assert rows[0] == {k: "" if v is None else str(v) for k, v in listed[0].items()}
    assert rss < 150, rss


def _gzip_members(path, prefix: bytes, unit: bytes, total_bytes: int) -> int:
    """Write a gzip file: a member with ``prefix``, then one member of 16 MiB of ``unit`` repeated
    as many times as needed for ``total_bytes`` uncompressed (gzip readers concatenate members)."""
    block = (unit * ((16 << 20) // len(unit) + 1))[:16 << 20]
    member = gzip.compress(block, compresslevel=9)
    with open(path, "wb") as f:
        f.write(gzip.compress(prefix))
        for _ in range(total_bytes // len(block)):
            f.write(member)
    return os.path.getsize(path)


@pytest.mark.parametrize("kind", ["zeros", "junk_without_newline"])
def test_gzip_bomb_fails_fast_in_bounded_memory(db_url, tmp_path, kind):
    """Pass: a ~2 MB gzip inflating to 2 GB (zeros, or text without a newline) fails at line 2
    ('longer than') within 30 s, loads nothing, and the ingesting process peaks under 300 MB."""
    unit = b"\x00" if kind == "zeros" else b"Prague;POINT (1 2);"
    bomb = tmp_path / f"bomb_{kind}.csv"
    size = _gzip_members(bomb, H, unit, 2 << 30)
    assert size < 10 << 20
    res, seconds, rss = _ingest_in_subprocess(bomb, db_url)
    assert res["status"] == "failed" and "line 2" in res["error"] and "longer than" in res["error"]
    assert seconds < 30 and rss < RSS_LIMIT_MB, (seconds, rss)
    assert trips(db_url) == 0


def test_gzip_bomb_of_bad_rows_stops_at_the_bad_row_limit(db_url, tmp_path):
    """Pass: a gzip inflating to 2 GB of short junk records with --max-bad-rows 1000 fails after the
    first batch with a max-bad-rows error, within 30 s and under 300 MB (with a percentage limit
    the whole file would be read first: the limit can only be judged at the end)."""
    bomb = tmp_path / "bomb_rows.csv"
    _gzip_members(bomb, H, b"not,a,trip\n", 2 << 30)
    res, seconds, rss = _ingest_in_subprocess(bomb, db_url, "--max-bad-rows", "1000")
    assert res["status"] == "failed" and "max-bad-rows" in res["error"]
    assert seconds < 30 and rss < RSS_LIMIT_MB, (seconds, rss)
    assert trips(db_url) == 0 and len(core.rejects(res["job_id"], url=db_url)) > 1000


def test_one_gigabyte_file_without_newline_fails_in_bounded_memory(db_url, tmp_path):
    """Pass: a 1 GB sparse file (a header, then 1 GB with no newline) fails at line 2 within 30 s
    with the ingesting process under 300 MB (it is hashed in full, read only up to the limit)."""
    big = tmp_path / "gigaline.csv"
    with open(big, "wb") as f:
        f.write(H + b"Prague,")
        f.truncate(len(H) + (1 << 30))
    res, seconds, rss = _ingest_in_subprocess(big, db_url)
    assert res["status"] == "failed" and res["error"].startswith("gigaline.csv, line 2:")
    assert "longer than" in res["error"]
    assert seconds < 30 and rss < RSS_LIMIT_MB, (seconds, rss)


@pytest.mark.parametrize("compressed", [False, True])
def test_millions_of_blank_lines_fail_in_bounded_memory(db_url, tmp_path, compressed):
    """Pass: a header and 20 MiB of blank lines (20M lines, a 20 KB gzip) fails as a header with no
    rows, naming line 2, with the ingesting process under 300 MB: the reader splits a block by lines
    a few batches' worth at a time (it peaked at 320-350 MB splitting whole blocks); a good row
    after them is loaded with its line number."""
    data = H + b"\n" * (20 << 20)
    path = tmp_path / ("blank.csv.gz" if compressed else "blank.csv")
    path.write_bytes(gzip.compress(data, compresslevel=1) if compressed else data)
    res, seconds, rss = _ingest_in_subprocess(path, db_url)
    assert res["status"] == "failed" and "line 2" in res["error"] and "no rows" in res["error"], res
    assert rss < RSS_LIMIT_MB, rss
    path.write_bytes(data + b"Prague,POINT (1 2),nowhere,2018-05-28 09:03:40,cheap_mobile\n" + GOOD)
    res, seconds, rss = _ingest_in_subprocess(path, db_url, "--max-bad-rows", "1")
    assert res["status"] == "completed" and res["rows_loaded"] == 1 and res["rows_rejected"] == 1, res
    assert [r["line"] for r in core.rejects(res["job_id"], url=db_url)] == [(20 << 20) + 2]
    assert rss < RSS_LIMIT_MB, rss


def test_good_large_gzip_loads_in_bounded_memory(db_url, tmp_path):
    """Pass: a gzip of 400k valid rows (~30 MB inflated) loads completely with the process
    under 300 MB: memory follows the batch size, not the file."""
    from core.synth import generate
    plain = tmp_path / "plain.csv"
    generate(str(plain), 400_000, seed=11)
    gz = tmp_path / "trips.csv.gz"
    with open(plain, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    res, seconds, rss = _ingest_in_subprocess(gz, db_url)
    assert res["status"] == "completed" and res["rows_loaded"] == 400_000
    assert rss < RSS_LIMIT_MB, rss


def test_zlib_error_is_not_raised_from_the_reader(tmp_path):
    """Pass: a gzip whose deflate stream is corrupted in the middle raises FileRejected (naming the
    file), never a raw zlib/OSError, when read record by record."""
    data = bytearray(gzip.compress(H + GOOD * 20000, compresslevel=1))
    data[len(data) // 2: len(data) // 2 + 64] = b"\xff" * 64
    p = tmp_path / "corrupt.csv.gz"
    p.write_bytes(bytes(data))
    src = open_source(str(p), "corrupt.csv.gz")
    with pytest.raises(FileRejected) as e:
        for _ in batches(src, MAX_LINE, 1000):
            pass
    assert "corrupt.csv.gz" in str(e.value)


# -- property tests (hypothesis) ----------------------------------------------------------------

import csv  # noqa: E402
import io  # noqa: E402
import tempfile  # noqa: E402
from collections import Counter  # noqa: E402
from datetime import datetime  # noqa: E402

import pyarrow as pa  # noqa: E402
from hypothesis import HealthCheck, example, given, settings as hsettings, strategies as st  # noqa: E402

from core.ingest.read import COLUMNS  # noqa: E402
from core.ingest.validate import _DATETIME, _parse_datetime, _points, _timestamps, validate  # noqa: E402

_NAME_CHARS = st.sampled_from(list("abcXYZ09_-.;:'\"/\\ ,\n") + ["ü", "é", "東", "京", "🚕", "ß", "\t"])
_NAME = st.text(_NAME_CHARS, min_size=1, max_size=12).map(lambda s: s.strip()).filter(bool)
_LON = st.floats(-180, 180, allow_nan=False)
_LAT = st.floats(-90, 90, allow_nan=False)
_WHEN = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))


@st.composite
def _dialect_file(draw):
    """Valid trips written with a random dialect; returns (bytes, expected rows)."""
    rows = draw(st.lists(st.tuples(_NAME, _LON, _LAT, _LON, _LAT, _WHEN, _NAME), min_size=1, max_size=8))
    order = draw(st.permutations(range(5)))
    case = draw(st.sampled_from([str.lower, str.upper, str.title]))
    pad = draw(st.sampled_from(["", " ", "  "]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    number = draw(st.sampled_from([repr, lambda x: f"{x:.17g}", lambda x: f"{x:e}" if x == float(f"{x:e}") else repr(x)]))
    wkt = draw(st.sampled_from(["POINT ({} {})", "POINT({} {})", "point ( {}  {} )"]))
    sep = draw(st.sampled_from([" ", "T"]))
    buf = io.StringIO(newline="")
    w = csv.writer(buf, quoting=quoting, lineterminator=eol)
    w.writerow([pad + case(COLUMNS[i]) + pad for i in order])
    for region, olon, olat, dlon, dlat, when, source in rows:
        rec = [region, wkt.format(number(olon), number(olat)), wkt.format(number(dlon), number(dlat)),
               when.isoformat(sep=sep), source]
        w.writerow([rec[i] for i in order])
    data = buf.getvalue()
    if draw(st.booleans()):
        data = data[: -len(eol)]  # no newline at the end
    raw = data.encode()
    if draw(st.booleans()):
        raw = b"\xef\xbb\xbf" + raw
    if draw(st.booleans()):
        raw = gzip.compress(raw, compresslevel=1)
    expected = Counter((region, olon, olat, dlon, dlat, when, source)
                       for region, olon, olat, dlon, dlat, when, source in rows)
    return raw, expected


@hsettings(max_examples=30, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=_dialect_file())
def test_property_valid_rows_in_any_dialect_read_back_identically(db_url, case):
    """Pass: rows written with any mix of quoting, line ends, BOM, gzip, header case, spaces and
    order, number and WKT spelling, 'T' or ' ' in datetimes, are all loaded, and region,
    datasource, the four coordinates and the timestamp read back from the database equal them."""
    raw, expected = case
    with tempfile.NamedTemporaryFile(suffix=".csv") as f:
        f.write(raw)
        f.flush()
        res = core.ingest_file(f.name, url=db_url, max_bad_rows="0", force=True)
    n = sum(expected.values())
    assert res.status == "completed" and res.rows_loaded == n and res.rows_rejected == 0, res
    got = sql_rows(db_url, "SELECT r.name, ST_X(origin), ST_Y(origin), ST_X(destination), ST_Y(destination), "
                        "ts, s.name FROM trips t JOIN regions r USING (region_id) "
                        f"JOIN datasources s USING (datasource_id) WHERE t.job_id = {int(res.job_id)}")
    assert Counter(tuple(g) for g in got) == expected


_TOKENS = st.sampled_from([
    GOOD, H, b",", b'"', b'""', b"\n", b"\r\n", b"\r", b"\x00", b"\xff", b"\xef\xbb\xbf", b"\xc3", b"POINT (",
    b"1 2)", b"nan", b"2018-02-30 10:00:00", b"LINESTRING (1 2, 3 4)", b" ", b"a" * 70, b"\x1f\x8b",
    b"Prague", b"POINT (1 2)", b"2018-05-28 09:03:40"])


@st.composite
def _hostile_bytes(draw):
    mode = draw(st.sampled_from(["raw", "header+raw", "header+tokens", "gzip"]))
    if mode == "raw":
        return draw(st.binary(max_size=400))
    body = draw(st.binary(max_size=300)) if mode == "header+raw" else b"".join(
        draw(st.lists(_TOKENS, max_size=40)))
    data = H + body
    return gzip.compress(data)[: draw(st.integers(10, 10_000))] if mode == "gzip" else data


def _read_all(data: bytes, max_line: int, fast: bool, batch_rows: int):
    """What reading and validating ``data`` gives: ("rejected", line, reason), or the good rows'
    columns and the rejects, both as plain Python values."""
    with tempfile.NamedTemporaryFile(suffix=".csv") as f:
        f.write(data)
        f.flush()
        src = open_source(f.name, "prop.csv")
        read, good, rejects = 0, [], []
        try:
            for batch in batches(src, max_line, batch_rows, fast=fast):
                rows, rej = validate(batch, src.bad_utf8_lines)
                assert len(rows) + len(rej) == len(batch)
                assert len(rows.region) == len(rows.datasource) == len(rows.o_lon) == len(rows)
                read += len(batch)
                good += list(zip(rows.region.to_pylist(), rows.datasource.to_pylist(), rows.ts_us.tolist(),
                                 rows.o_lon.tolist(), rows.o_lat.tolist(), rows.d_lon.tolist(),
                                 rows.d_lat.tolist()))
                rejects += [(r.line, r.column, r.reason, r.message, r.raw) for r in rej]
        except FileRejected as e:
            assert str(e).startswith("prop.csv") and e.reason
            return ("rejected", e.line, e.reason)
        finally:
            src.stream.close()
    return read, good, rejects


@hsettings(max_examples=400, deadline=None)
@given(data=_hostile_bytes(), max_line=st.sampled_from([64, 1 << 20]))
def test_property_any_bytes_never_crash_and_every_record_is_accounted(data, max_line):
    """Pass: for any bytes, reading and validating either ends in FileRejected (with the file name)
    or yields records of which accepted + rejected == records read; never another exception;
    reject lines lie within the file and no accepted value holds a NUL. The fast path (Arrow
    splits plain blocks, tiny blocks here) and the csv module's path give identical outcomes."""
    outcome = _read_all(data, max_line, fast=True, batch_rows=1)
    assert outcome == _read_all(data, max_line, fast=False, batch_rows=7)
    if outcome[0] == "rejected":
        return
    read, good, rejects = outcome
    assert len(good) + len(rejects) == read
    text_ = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    lines = text_.count(b"\n") + 1
    assert all(2 <= r[0] <= lines and r[2] and r[3] for r in rejects)
    assert not any("\x00" in g[0] or "\x00" in g[1] for g in good)


@hsettings(max_examples=300, deadline=None)
@example(s="0000-01-01 00:00:00")
@example(s="2018-05-28 24:00:00")
@example(s="2016-12-31 23:59:60")
@given(s=st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?\Z"))
def test_property_vectorised_and_row_by_row_datetimes_agree(s):
    """Pass: for any string shaped like a datetime, the vectorised path (pyarrow) and the
    row-by-row path (Python) accept the same ones with the same value, so a row's fate never
    depends on the other rows of its batch (pyarrow alone took year 0000)."""
    import re
    assert re.match(_DATETIME, s)
    ts, ok = _timestamps(pa.array([s], type=pa.string()))
    expected = _parse_datetime(s)
    assert bool(ok[0]) == (expected is not None), s
    if expected is not None:
        assert int(ts[0]) == expected, s


_NUMBERISH = st.one_of(
    st.from_regex(r"\A[+-]?[0-9]{0,4}\.?[0-9]{0,4}([eE][+-]?[0-9]{1,3})?\Z"),
    st.sampled_from(["inf", "-inf", "nan", "NaN", "Infinity", "1e400", "0x10", "1_0", "", " 1", "1 ", "1,5",
                     "--1", "1e", ".", "-", "1.5.5", "1d5", "\u0661"]),
    st.text(max_size=6))


@hsettings(max_examples=400, deadline=None)
@example(x="180", y="-90")
@example(x="180.0000001", y="0")
@example(x="inf", y="1")
@given(x=_NUMBERISH, y=_NUMBERISH)
def test_property_a_point_is_read_alike_whatever_else_is_in_its_batch(x, y):
    """Pass: a point written ``POINT (x y)`` gets the same fate and value when every point of its
    batch is written that way (the quick path: split and cast) as beside a point that is not (the
    regex path), so a row's fate never depends on the other rows of its batch."""
    point = f"POINT ({x} {y})"
    alone = _points(pa.array([point], type=pa.string()))
    beside = _points(pa.array([point, "POINT(1  2)"], type=pa.string()))
    assert bool(alone[2][0]) == bool(beside[2][0]), point
    if alone[2][0]:
        assert (alone[0][0], alone[1][0]) == (beside[0][0], beside[1][0]), point


@pytest.mark.parametrize("damage", ["cut", "junk after", "corrupt", "cut, from a pipe"])
def test_damaged_gzip_names_the_line_where_the_damage_starts(tmp_path, damage):
    """Pass: a gzip of 60,000 records cut in the middle, followed by bytes that are not gzip, or
    with bytes overwritten in the middle, fails as a whole naming the line in which its readable
    data ends (the reader's 1 MB read-ahead once made it name the start of the block)."""
    from core.synth import generate
    plain = tmp_path / "t.csv"
    generate(str(plain), 60_000, seed=3)
    text = plain.read_bytes()
    stored = gzip.compress(text, compresslevel=0)  # stored blocks: a byte of the file is a byte of the text
    if damage == "cut":
        data, readable = stored[: len(stored) // 2], None
    elif damage == "junk after":
        data, readable = stored + b"not gzip", text
    else:
        data, readable = gzip.compress(text, compresslevel=1), None
        data = data[: len(data) // 2] + bytes(64) + data[len(data) // 2 + 64:]
    if damage == "cut":  # what zlib gives before the cut
        readable = zlib.decompressobj(wbits=31).decompress(data)
    damaged = tmp_path / "damaged.csv.gz"
    if damage == "cut, from a pipe":  # not read twice (opening it again would wait for a writer)
        data = stored[: len(stored) // 2]
        os.mkfifo(damaged)
        writer = threading.Thread(target=damaged.write_bytes, args=(data,), daemon=True)
        writer.start()
    else:
        damaged.write_bytes(data)
    src = open_source(str(damaged), "damaged.csv.gz")
    with pytest.raises(FileRejected) as e:
        for _ in batches(src, MAX_LINE, 25_000):
            pass
    assert "damaged" in e.value.reason
    if damage == "cut, from a pipe":
        assert 1 <= e.value.line <= 35_000  # near the cut, within the read-ahead
    elif damage == "cut":
        assert 25_000 < e.value.line < 35_000  # the cut is near line 30,000
        assert e.value.line == readable.count(b"\n") + 1
    elif damage == "junk after":
        assert e.value.line == 60_002  # the header, 60,000 records, then the junk
    else:
        assert 20_000 < e.value.line < 40_000, e.value.line


def test_a_look_alike_character_is_named_in_the_message(db_url, write_csv):
    """Pass: a value that looks right on screen but holds a non-ASCII digit or space says which
    character it is (a no-break space reads as a space, and the message would look like its example)."""
    res = core.ingest_file(write_csv(H + r(o="POINT (\u0661\u0664 50)") + r(when="2018-05-28\u00a009:03:40")
                                     + GOOD), url=db_url, max_bad_rows="5")
    messages = [x["message"] for x in core.rejects(res.job_id, url=db_url)]
    assert "U+0661 (ARABIC-INDIC DIGIT ONE)" in messages[0]
    assert "U+00A0 (NO-BREAK SPACE)" in messages[1]
