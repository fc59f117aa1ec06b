"""The CLI: ``python -m core COMMAND``. Thin: parses arguments, calls the facade, prints JSON."""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time

import core


def _print_json(obj) -> None:
    print(json.dumps(obj, default=str, indent=None))


def cmd_migrate(a) -> int:
    applied = core.migrate()
    print(f"schema: applied {', '.join(applied)}" if applied else "schema: up to date", file=sys.stderr)
    for name in core.changed_migrations():
        print(f"warning: sql/{name} has changed since it was applied; applied files are not applied "
              "again: put a schema change in a new sql/NN_*.sql file", file=sys.stderr)
    return 0


def cmd_ingest(a) -> int:
    ok, loaded, answered = True, False, []
    try:
        for path in a.paths:
            res, interrupted = _ingest_one(a, path, answered)
            ok = ok and res["status"] in ("completed", "duplicate")
            loaded = loaded or res["status"] == "completed"
            if interrupted:
                raise KeyboardInterrupt
    except KeyboardInterrupt:  # the file being loaded has its answer (cancelled); the rest, one each
        from core.ingest.jobs import JobResult
        left = a.paths[len(answered):]
        for path in left if a.json else ():
            _print_json(JobResult(None, os.path.basename(os.path.normpath(path)), "cancelled",
                                  error=f"{path}: not loaded, after Ctrl-C").as_dict())
        if left:
            print(f"not loaded, after Ctrl-C: {', '.join(left)}", file=sys.stderr)
        return 130
    if loaded:
        _hint_compaction()
    return 0 if ok else 1


def _ingest_one(a, path: str, answered: list) -> tuple[dict, bool]:
    """Load one file, with progress on stderr, and print its answer (``path`` is added to
    ``answered`` first, so that a Ctrl-C while printing does not answer it twice); the answer and
    whether Ctrl-C cancelled it."""
    from psycopg2.errors import InsufficientPrivilege

    from core.db import not_a_loader, role_url
    from core.ingest.eta import estimate
    from core.ingest.jobs import Job, JobResult

    try:
        job = Job(path, max_bad_rows=a.max_bad_rows, force=a.force, source="cli", url=role_url("loader"))
    except InsufficientPrivilege as e:
        raise not_a_loader(e) from e
    except Exception as e:  # no job could be created: still one answer per file
        trouble = _database_trouble(e)
        if trouble is None and not isinstance(e, (OSError, ValueError)):
            raise
        res = JobResult(None, os.path.basename(os.path.normpath(path)), "failed",
                        error=f"{path}: {trouble}; nothing loaded" if trouble else f"{path}: {e}").as_dict()
        answered.append(path)
        _print_json(res) if a.json else print(res["error"], file=sys.stderr)
        return res, False
    done = threading.Event()

    def report():
        while not done.wait(1.0):
            p = job.progress
            el = max(time.monotonic() - p.started, 1e-6)
            rate = f", {p.rows_read / el:,.0f} rows/s" if p.phase == "reading" else ""  # (none read after)
            share, left = estimate(p.phase, p.bytes_read, p.file_size, el)
            eta = f", {share:.0%}" + (f", ETA {left:.0f}s" if left is not None else "")
            print(f"job {job.job_id} {p.phase}: {p.rows_read:,} rows read, {p.rows_rejected:,} rejected"
                  f"{rate}{eta}", file=sys.stderr)

    threading.Thread(target=report, daemon=True).start()
    res, interrupted = _run_cancelled_by_ctrl_c(job, on_quit=lambda: _answer_on_quit(a, job, path, answered))
    answered.append(path)
    done.set()
    d = res.as_dict()
    if a.json:
        _print_json(d)
    else:
        print(f"job {res.job_id} {res.file}: {res.status}, {res.rows_loaded:,} rows loaded, "
              f"{res.rows_rejected:,} rejected in {res.seconds}s" + (f" - {res.error}" if res.error else ""),
              file=sys.stderr)
    return d, interrupted


def _answer_on_quit(a, job, path: str, answered: list) -> None:
    """At a second Ctrl-C, before quitting at once: with --json, the answer of the file being loaded
    (interrupted: the database drops its rows) and of each file after it (not loaded), one a file."""
    if not a.json:
        return
    from core.ingest.jobs import JobResult
    p = job.progress  # what it had read (none of it stays)
    _print_json(JobResult(job.job_id, job.file_name, "interrupted", p.rows_read, 0, p.rows_rejected,
                          round(time.monotonic() - p.started, 3), error=f"{path}: quit at a second Ctrl-C; "
                          "nothing of the file was loaded").as_dict())
    for left in a.paths[len(answered) + 1:]:
        _print_json(JobResult(None, os.path.basename(os.path.normpath(left)), "cancelled",
                              error=f"{left}: not loaded, after Ctrl-C").as_dict())
    sys.stdout.flush()


def _run_cancelled_by_ctrl_c(job, on_quit=None):
    """Run ``job`` (in a thread); Ctrl-C cancels it as `cancel JOB_ID` does and waits for it to
    end, cancelled, which takes a few seconds; a second Ctrl-C quits at once (the database then
    drops the file's rows and the job shows as interrupted). Returns the result and whether Ctrl-C was pressed."""
    out: dict = {}
    ended = threading.Event()  # (not Thread.join: interrupted, it may take a running thread for ended)

    def run() -> None:
        try:
            out["result"] = job.run()
        except BaseException as e:  # re-raised in the main thread
            out["error"] = e
        finally:
            ended.set()

    threading.Thread(target=run, name=f"job-{job.job_id}", daemon=True).start()
    interrupted = False
    while not ended.is_set():
        try:
            ended.wait(0.5)
        except KeyboardInterrupt:
            if interrupted:
                print(f"job {job.job_id}: quit; nothing of the file is loaded", file=sys.stderr, flush=True)
                if on_quit:
                    on_quit()
                os._exit(130)  # at once: the job's threads are still running (the database rolls back)
            interrupted = True
            print(f"job {job.job_id}: cancelling (Ctrl-C again to quit at once)", file=sys.stderr)
            try:
                core.cancel_job(job.job_id)
            except Exception as e:  # the database gone: the job fails by itself
                print(f"job {job.job_id}: could not ask it to cancel ({type(e).__name__})", file=sys.stderr)
    if "error" in out:
        raise out["error"]
    return out["result"], interrupted


def _hint_compaction() -> None:
    """After a load: say when compaction is due (a running dashboard compacts by itself when it is)."""
    try:
        due = core.compaction_due()
    except Exception:  # only a hint
        return
    if due:
        print("tip: `python -m core compact` (as the database owner) makes groups with no filter (fine "
              "cells too), regions or datasources read kept rows instead of aggregating every summary "
              "row or raw trip",
              file=sys.stderr)


def cmd_jobs(a) -> int:
    rows = core.jobs(limit=a.limit)
    if a.json:
        _print_json(rows)
    else:
        for j in rows:
            print(f"{j['job_id']:>6} {j['status']:<12} {j['rows_loaded']:>12,} loaded {j['rows_rejected']:>8,} rejected  {j['file_name']}")
    return 0


def cmd_rejects(a) -> int:
    if core.job(a.job_id) is None:
        print(f"there is no job {a.job_id}", file=sys.stderr)
        return 1
    if a.csv:
        core.write_rejects_csv(a.job_id, sys.stdout)
        return 0
    out = sys.stdout  # a JSON list, written a record at a time (a job may have millions)
    out.write("[")
    for i, row in enumerate(core.iter_rejects(a.job_id)):
        out.write((", " if i else "") + json.dumps(row, default=str))
    out.write("]\n")
    return 0


def cmd_cancel(a) -> int:
    status = core.cancel_job(a.job_id)
    if status is None:
        job = core.job(a.job_id)
        print(f"there is no job {a.job_id}" if job is None else f"job {a.job_id} has ended ({job['status']}); "
              "only a queued or running job can be cancelled", file=sys.stderr)
        return 1
    print(f"job {a.job_id}: cancel requested ({status})", file=sys.stderr)
    return 0


def cmd_stats(a) -> int:
    s = core.stats()
    if a.json:
        _print_json(s)
    elif not s["trips"]:
        print("0 trips stored")
    else:
        print(f"{s['trips']:,} trips, regions: {', '.join(s['regions'])}; "
              f"{s['first_datetime']} .. {s['last_datetime']}")
    return 0


def cmd_bonus(a) -> int:
    _print_json(core.bonus_answers())
    return 0


def cmd_compact(a) -> int:
    if a.if_due:
        if not core.compaction_due():
            print("compaction is not due (TRIPS_COMPACT_SHARE); nothing done", file=sys.stderr)
            if a.json:
                _print_json({})  # no table was compacted
            return 0
    from psycopg2.errors import InsufficientPrivilege
    started = time.monotonic()

    def progress(step: str) -> None:  # stderr: an hour at 100M should not pass in silence
        print(f"compact [{time.monotonic() - started:6.0f} s] {step}", file=sys.stderr, flush=True)
    try:
        res = core.compact_summaries(progress=progress)
    except InsufficientPrivilege as e:
        detail = e.diag.message_primary or str(e).strip().splitlines()[0]
        raise core.TripsError(f"this database user may not compact ({detail}): compaction runs as the "
                              "owner of the tables, DATABASE_URL (make run and docker-compose set it so)") from e
    if a.json:
        _print_json(res)
    else:
        for table, n in res.items():
            print(f"{table}: {n['before']:,} -> {n['after']:,} rows")
    return 0


def cmd_groups(a) -> int:
    hours = _hours(a.hours) if a.hours is not None else None
    _note_unknown("region", a.region, core.regions)
    _note_unknown("datasource", a.datasource, core.datasources)
    res = core.trip_groups(cell=a.cell, bucket_hours=a.bucket_hours, regions=a.region or None,
                           datasources=a.datasource or None, date_from=a.date_from, date_to=a.date_to,
                           days=a.days, hours=hours, limit=a.limit)
    if a.json:
        _print_json(res)
    else:
        print(f"{res['total_trips']:,} trips in {core.groups_count(res)} groups ({res['cell']} cells, "
              f"{res['bucket_hours']} h buckets); top {len(res['groups'])}:")
        for g in res["groups"]:
            print(f"{g['trips']:>10,} {g['share']:>7.2%}  {g['bucket']}  {g['origin_cell']} -> {g['destination_cell']}")
    return 0


def _note_unknown(kind: str, names: list[str] | None, known) -> None:
    """A name that is not stored counts no trips (the answer says 0); say so, it may be a typo, and
    which command lists the names."""
    from core.filters import stored_name
    if names:
        stored = set(known())
        for name in names:
            if stored_name(name) not in stored:  # as the filters take it
                listed = "python -m core regions" if kind == "region" else "python -m core stats"
                print(f"note: no {kind} named {name!r} is stored ({listed} lists them)", file=sys.stderr)


def _hours(text: str) -> list[int]:
    """``7-9,17`` -> [7, 8, 9, 17]; a range past midnight wraps: ``22-1`` -> [22, 23, 0, 1]."""
    out: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"(\d{1,2})(?:-(\d{1,2}))?", part.strip(), re.ASCII)  # not "7-", "1_0" or "٧"
        lo, hi = (int(m.group(1)), int(m.group(2) or m.group(1))) if m else (-1, -1)
        if not (0 <= lo <= 23 and 0 <= hi <= 23):
            raise core.InvalidFilter(f"--hours takes hours of the day (0-23) like 7-9,17 or 22-2, not {text[:40]!r}")
        out += list(range(lo, hi + 1)) if lo <= hi else list(range(lo, 24)) + list(range(0, hi + 1))
    return out


def cmd_weekly(a) -> int:
    if a.region is not None and a.by is not None:
        print("note: --by applies to --bbox only; a region's trips are counted by their region", file=sys.stderr)
    _note_unknown("region", [a.region] if a.region is not None else None, core.regions)
    res = core.weekly_average(region=a.region, bbox=a.bbox, by=a.by or "origin", date_from=a.date_from,
                              date_to=a.date_to)
    if a.json:
        _print_json(res)
    else:
        area = f"region {res['region']}" if "region" in res else f"box {res['bbox']} by {res['by']}"
        period = f"{res['from']} .. {res['to']}" if res["from"] and res["to"] else "no trips stored to bound the period"
        print(f"{area}: {res['weekly_average']:,.2f} trips per week ({res['trips']:,} trips over "
              f"{res['weeks']} week{'' if res['weeks'] == 1 else 's'}, {period})")
    return 0


def cmd_regions(a) -> int:
    rows = core.stats()["by_region"]
    if a.json:
        _print_json(rows)
    else:
        for r in rows:
            print(f"{r['region']:<30} {r['trips']:>12,}  {r['first_datetime']} .. {r['last_datetime']}")
    return 0


def cmd_generate(a) -> int:
    from core.synth import generate
    try:
        n = generate(a.out, a.rows, seed=a.seed)
    except OSError as e:  # a missing folder, a directory, no permission
        print(f"cannot write {a.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"wrote {n:,} trips to {a.out}", file=sys.stderr)
    return 0


def cmd_load_sample(a) -> int:
    if core.stats()["trips"] == 0:
        res = core.ingest_file(a.path)
        print(f"loaded the sample: {res.status}, {res.rows_loaded} trips", file=sys.stderr)
    return 0


def _bad_row_limit(text: str) -> str:
    """--max-bad-rows checked when the command line is read: a usage error, not a failed file each."""
    from core.ingest.load import BadRowLimit
    try:
        BadRowLimit.parse(text)
        return text  # as typed: the job applies it exactly
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--max-bad-rows ")) from None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core", description="Trips analytics: ingest and query.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("migrate", help="apply the schema").set_defaults(fn=cmd_migrate)
    p = sub.add_parser("ingest", help="load CSV / gzip CSV files, each atomically")
    p.add_argument("paths", nargs="+")
    p.add_argument("--max-bad-rows", default=None, type=_bad_row_limit, help="N rows or P%% (default 1%%)")
    p.add_argument("--force", action="store_true", help="load even if the same file was loaded")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_ingest)
    p = sub.add_parser("jobs", help="ingest jobs, newest first")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=_whole, default=100,
                   help="the newest N jobs (default 100); queued and running jobs are always listed")
    p.set_defaults(fn=cmd_jobs)
    p = sub.add_parser("rejects", help="rejected rows of a job")
    p.add_argument("job_id", type=_whole)
    p.add_argument("--csv", action="store_true")
    p.set_defaults(fn=cmd_rejects)
    p = sub.add_parser("cancel", help="cancel a queued or running job")
    p.add_argument("job_id", type=_whole)
    p.set_defaults(fn=cmd_cancel)
    p = sub.add_parser("stats", help="what is stored")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_stats)
    p = sub.add_parser("bonus", help="the two bonus questions, as JSON: the datasource of the latest trip "
                       "of each of the two regions with the most trips; the regions where cheap_mobile appears")
    p.add_argument("--json", action="store_true", help="(the answer is always JSON)")
    p.set_defaults(fn=cmd_bonus)
    p = sub.add_parser("groups", help="similar-trip groups: same origin cell, destination cell and time bucket")
    p.add_argument("--cell", choices=["fine", "medium", "coarse"], default="medium",
                   help="grid cells of 0.005, 0.02 or 0.08 degrees (about 0.5, 2, 9 km; default: medium)")
    p.add_argument("--bucket-hours", type=_whole, choices=[1, 2, 3, 4, 6, 24], default=1,
                   help="time-of-day buckets of this many hours (default: 1)")
    p.add_argument("--region", action="append", help="repeat for several")
    p.add_argument("--datasource", action="append", help="repeat for several")
    p.add_argument("--from", dest="date_from", help="first date, inclusive (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", help="last date, inclusive (YYYY-MM-DD)")
    p.add_argument("--days", choices=["all", "weekdays", "weekend"], default="all",
                   help="weekdays: Monday to Friday; weekend: Saturday and Sunday (default: all)")
    p.add_argument("--hours", help="hours of the day, like 7-9,17")
    p.add_argument("--limit", type=_group_limit, default=1000, help="top N groups (default 1000, at most 5000)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_groups)
    p = sub.add_parser("weekly-avg", help="weekly average of trips for a region or a bounding box")
    area = p.add_mutually_exclusive_group(required=True)
    area.add_argument("--region")
    area.add_argument("--bbox", help="west,south,east,north in degrees (edges included)")
    p.add_argument("--by", choices=["origin", "destination", "either"],
                   help="for a box: which end of the trip must be in it (default: origin)")
    p.add_argument("--from", dest="date_from", help="first date, inclusive (default: first trip)")
    p.add_argument("--to", dest="date_to", help="last date, inclusive (default: last trip)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_weekly)
    p = sub.add_parser("regions", help="the regions, with their trips and period")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_regions)
    p = sub.add_parser("generate", help="write synthetic trips")
    p.add_argument("--rows", type=_positive, required=True)
    p.add_argument("--seed", type=_whole, default=42)
    p.add_argument("out")
    p.set_defaults(fn=cmd_generate)
    p = sub.add_parser("compact", help="fold the summaries' per-job rows into one row per key (as the owner; "
                       "answers do not change, queries get faster after many files)")
    p.add_argument("--if-due", action="store_true",
                   help="only when the trips loaded since the last compaction are TRIPS_COMPACT_SHARE "
                        "(20%%) of those it folded, or it never ran")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_compact)
    p = sub.add_parser("load-sample-if-empty", help="load the sample when no trips are stored")
    p.add_argument("path")
    p.set_defaults(fn=cmd_load_sample)
    a = ap.parse_args(_dash_values(sys.argv[1:] if argv is None else list(argv)))
    try:
        return a.fn(a)
    except core.TripsError as e:
        print(str(e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `jobs | head`: the reader has gone, which is no error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        trouble = _database_trouble(e)
        if trouble is None:
            raise
        print(f"{trouble} (DATABASE_URL and friends: see the README)", file=sys.stderr)
        return 1


def _database_trouble(e: BaseException) -> str | None:
    """What a failure to reach the database (or to read its URL) means, in words; None for
    anything else (a bug, shown as a traceback)."""
    import psycopg2
    import sqlalchemy.exc

    from core.errors import database_trouble

    if isinstance(e, sqlalchemy.exc.ArgumentError) or "Could not parse SQLAlchemy URL" in str(e):
        return f"the database URL is not valid ({str(e).splitlines()[0]})"
    orig = getattr(e, "orig", e)  # SQLAlchemy wraps the driver's error
    if getattr(orig, "pgcode", None) in ("42P01", "42883", "42703"):  # undefined table, function, column
        return ("the database lacks the trips schema, or has an older one: run `python -m core migrate` "
                "as its owner (`make setup` does)")
    if isinstance(orig, psycopg2.OperationalError):
        if orig.pgcode:  # the server answered: a cancelled statement, a lock timeout, a full disk...
            return database_trouble(orig)
        first = (str(orig).strip().splitlines() or [""])[0]
        return f"cannot reach the database ({first})"
    return None


def _whole(text: str, least: int = 0, most: int | None = None) -> int:
    """A whole number written in ASCII digits (int() would also take "1_0" and Arabic digits)."""
    if not re.fullmatch(r"\d+", text.strip(), re.ASCII) or not least <= int(text) <= (most or int(text)):
        bounds = f"{least} or more" if most is None else f"from {least} to {most}"
        raise argparse.ArgumentTypeError(f"must be a whole number{',' if most is None else ''} {bounds}, not {text[:40]!r}")
    return int(text)


def _positive(text: str) -> int:
    return _whole(text, least=1)


def _group_limit(text: str) -> int:
    """1 to core.groups.MAX_LIMIT (5000), one message for every number outside."""
    from core.groups import MAX_LIMIT
    return _whole(text, least=1, most=MAX_LIMIT)


_VALUE_OPTIONS = ("--bbox", "--region", "--datasource")


def _dash_values(argv: list[str]) -> list[str]:
    """``--bbox -0.3,51.3,0.1,51.7``: argparse takes a value starting with "-" (west of Greenwich,
    a region named "-x") for an option; glue it to its option as ``--bbox=-0.3,...``."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "--":  # what follows is positional
            return out + argv[i:]
        if argv[i] in _VALUE_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-") \
                and not argv[i + 1].startswith("--"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class _Visible:
    """A terminal's stream that shows control characters as escapes (\\x1b) instead of obeying
    them: a file name or a stored name with an ESC in it must not clear the screen or retitle the
    window of whoever lists it. Only for a terminal: a pipe or a file gets the bytes as stored (a
    reject's record, the CSV of rejects)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text))

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _on_terminals() -> None:
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and stream.isatty():
            setattr(sys, name, _Visible(stream))


if __name__ == "__main__":
    _on_terminals()
    sys.exit(main())
