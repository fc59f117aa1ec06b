"""Live job status, pushed by the server.

One process-wide ``JobWatcher`` (``st.cache_resource``) holds a PostgreSQL ``LISTEN`` connection
and wakes a ``threading.Condition`` on every ``NOTIFY``. The status fragment renders the jobs,
then waits on that condition; when woken it reruns itself (Streamlit sends the change over its
websocket), and when a job has ended it reruns the whole app so maps and charts include the new
data. No browser timer, no sleep-and-query loop: while it waits, the only thing it checks is
whether the analyst has done something (Streamlit's own stop/rerun check, as its cache waits do).
"""
from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from datetime import datetime, timezone

import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_run_yield_check

import core
from core.ingest.eta import estimate

ACTIVE = ("queued", "running")
# How a job that loaded nothing ended (completed, duplicate and cancelled jobs have words of their own).
FINAL_MESSAGES = {"failed": "failed", "interrupted": "interrupted (its process stopped)"}


def live_updates_enabled() -> bool:
    """Off only for tests of the page's logic (AppTest waits for the script to end)."""
    return os.environ.get("TRIPS_LIVE_UPDATES", "1") != "0"


@st.cache_resource(show_spinner=False)
def watcher() -> "core.JobWatcher":
    w = core.JobWatcher()
    # Loads from the CLI too: once compaction is due, the page's kept groups catch up by themselves.
    w.on_completed(manager().compact_if_due)
    manager().on_compaction_step(w.poke)  # the Jobs panel shows its steps
    # And the loads made while no page ran (the CLI before the page started): compacted now if due.
    manager().compact_if_due()
    return w


@st.cache_resource(show_spinner=False)
def manager() -> "core.JobManager":
    return core.JobManager()


def submit_upload(uploaded, max_bad_rows: str | None = None, force: bool = False) -> int:
    """Write an upload to a temporary file and queue it; the worker deletes the file."""
    fd, path = tempfile.mkstemp(prefix="trips-upload-", suffix=".csv")
    with os.fdopen(fd, "wb") as f:
        for chunk in iter(lambda: uploaded.read(8 << 20), b""):
            f.write(chunk)
    try:
        return manager().submit(path, file_name=uploaded.name, max_bad_rows=max_bad_rows, force=force,
                                delete_after=True, source="dashboard")
    except BaseException:
        os.unlink(path)
        raise


def _elapsed(job: dict) -> float | None:
    """Seconds from the job's start to its last progress report."""
    if not job.get("started_at") or not job.get("updated_at"):
        return None
    return (datetime.fromisoformat(job["updated_at"]) - datetime.fromisoformat(job["started_at"])).total_seconds()


def _progress(job: dict) -> tuple[float, str]:
    """The bar's fraction and the time left (while reading), from core's one estimate."""
    done, left = estimate(job.get("phase") or job["status"], job["bytes_read"], job.get("file_size"),
                          _elapsed(job))
    return done, (f" · about {left:,.0f} s left" if left is not None and left >= 1 else "")


def _age(job: dict) -> float | None:
    """Seconds since the job ended."""
    if not job.get("finished_at"):
        return None
    return (datetime.now(timezone.utc) - datetime.fromisoformat(job["finished_at"])).total_seconds()


def _rate(job: dict) -> str:
    """Rows read a second, while reading: after it no row is read, and a rate over the whole time
    would fall through indexing and summarising as if the load slowed down."""
    elapsed = _elapsed(job)
    reading = (job.get("phase") or job["status"]) == "reading"
    return f" · {job['rows_read'] / elapsed:,.0f} rows/s" if reading and elapsed and elapsed > 0.5 else ""


SLOTS = 6  # jobs shown in the panel
ENDED_SHOWN = 3  # of which ended ones: the newest in a box, the others in a line each (History has all)


def render_job(job: dict | None, generation: int = 0, can_cancel: bool = True, brief: bool = False) -> None:
    """Exactly three elements per job (or three empty ones): the panel re-renders in place while
    the script keeps running, so every render must have the same shape (nothing left over).
    ``brief``: an ended job in one line."""
    if job is None:
        st.empty(), st.empty(), st.empty()
        return
    if brief and job["status"] not in ACTIVE:
        icon, words = _brief(job)
        st.caption(f"{icon} **{job['file_name']}** {words}")
        st.empty(), st.empty()
        return
    name, status = job["file_name"], job["status"]
    if status in ACTIVE:
        done, left = _progress(job)
        phase = job.get("phase") or status
        st.progress(min(done, 1.0), text=f"**{name}** · {phase}")
        # "good", not "loaded": nothing is loaded until the job commits (a cancel keeps none)
        # good: read and valid (each row read is validated at once; rows_loaded lags, a batch on its way to COPY)
        st.caption(f"{job['rows_read']:,} rows read · {job['rows_read'] - job['rows_rejected']:,} good · "
                   f"{job['rows_rejected']:,} rejected{_rate(job)}{left}")
        if job.get("cancel_requested"):  # asked to stop: its worker rolls back within seconds
            st.caption(":material/hourglass_top: Cancelling: nothing of this file will be kept.")
            return
        if not can_cancel:  # only those who may load data may stop a load
            st.empty()
            return
        # A fresh key per render (the panel re-renders in place); the click acts through its callback.
        st.button("Cancel", key=f"cancel-{job['job_id']}-{generation}", type="tertiary",
                  on_click=core.cancel_job, args=(job["job_id"],))
        return
    rejected = f", {_count(job['rows_rejected'], 'row')} rejected" if job["rows_rejected"] else ""
    if status == "completed" and not job["rows_loaded"]:  # every row rejected (within the limit)
        st.warning(f"**{name}** loaded: no trips{rejected}", icon=":material/check_circle:")
    elif status == "completed":
        st.success(f"**{name}** loaded: {_count(job['rows_loaded'], 'trip')}{rejected}",
                   icon=":material/check_circle:")
    elif status == "duplicate":
        earlier = job.get("duplicate_of_file")
        st.info(f"**{name}** was loaded before" + (f" as {earlier} (job {job['duplicate_of']})"
                                                   if earlier else "") + "; nothing added.",
                icon=":material/content_copy:")
    elif status == "cancelled":
        st.warning(f"**{name}** cancelled: nothing loaded.", icon=":material/cancel:")
    else:
        st.error(f"**{name}** {FINAL_MESSAGES.get(status, status)}: nothing loaded. {_reason(job, 200)}",
                 icon=":material/error:")
    st.empty(), st.empty()


def _brief(job: dict) -> tuple[str, str]:
    """An ended job's icon and words, in a line."""
    status = job["status"]
    if status == "completed":
        trips = _count(job["rows_loaded"], "trip") if job["rows_loaded"] else "no trips"
        rejected = f", {_count(job['rows_rejected'], 'row')} rejected" if job["rows_rejected"] else ""
        return ":material/check_circle:" if job["rows_loaded"] else ":material/warning:", f"loaded: {trips}{rejected}"
    if status == "duplicate":
        return ":material/content_copy:", "was loaded before: nothing added"
    if status == "cancelled":
        return ":material/cancel:", "cancelled: nothing loaded"
    return ":material/error:", f"{FINAL_MESSAGES.get(status, status)}: nothing loaded. {_reason(job, 90)}"


def _reason(job: dict, most: int) -> str:
    """Why a job failed, at most about ``most`` characters (History has the whole message); said
    once: "nothing loaded" is said before it, core's messages end with it."""
    error = re.sub(r"[;,] nothing (of the file )?(was )?loaded", "", without_name(job.get("error") or "", job["file_name"]))
    if not error:
        return "(History may say why.)"
    return error if len(error) <= most else error[:most].rsplit(" ", 1)[0] + "… (the whole message: History)"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def without_name(error: str, name: str) -> str:
    """Core's messages start with the file's name, which the page shows beside them; the page
    names its own control for the CLI's --max-bad-rows."""
    error = error.replace(", --max-bad-rows)", ")")
    for sep in (": ", ", "):
        if error.startswith(name + sep):
            rest = error[len(name) + len(sep):]
            return rest[:1].upper() + rest[1:]
    return error


RECENT_SECONDS = 15 * 60  # ended jobs stay in the panel this long (the last one always does)


def render_jobs(generation: int, can_cancel: bool = True) -> None:
    jobs = core.jobs(limit=50)
    active = [j for j in jobs if j["status"] in ACTIVE]
    ended = sorted((j for j in jobs if j["status"] not in ACTIVE),  # as instants: offsets may differ (DST)
                   key=lambda j: datetime.fromisoformat(j.get("finished_at") or j["created_at"]), reverse=True)
    lately = [j for j in ended if _age(j) is not None and _age(j) < RECENT_SECONDS]
    pool = lately or ended[:1]  # the last job that ended stays, however long ago
    # The newest ended job, and failures chosen before successes (a failure in a batch of files
    # must not drop out of the panel); shown newest first.
    picked = pool[:1] + sorted(pool[1:], key=lambda j: j["status"] not in ("failed", "interrupted"))[:ENDED_SHOWN - 1]
    recent = [j for j in pool if j in picked]
    shown = (active + recent)[:SLOTS]  # running, then those that ended lately, newest first; the rest is History
    st.subheader("Jobs")
    step, failure = manager().compaction_step, manager().compaction_failure
    st.caption("No files loaded yet." if not jobs else f"{len(active)} running" if active
               else "All loaded; compacting." if step else "All done.")
    if step:  # answers stay exact meanwhile; some are slower until it commits
        since = manager().compaction_since
        st.caption(f":material/compress: Preparing quick answers for the new trips"
                   f"{since.strftime(' since %H:%M:%S UTC') if since else ''}; every answer stays exact "
                   f"meanwhile. Now: {step}.",
                   help="After loads, the summaries are compacted: folded, and the top groups kept again, in "
                        "one transaction (a minute or more). Answers stay exact meanwhile; some are slower "
                        "until it ends.")
    elif failure:  # the loads are in and every answer exact; the summaries were not folded
        st.warning(f"Compacting the summaries after the last loads {failure}. Every answer stays exact; "
                   "groups that read the trips loaded since are slower until a compaction succeeds. It is "
                   "tried again after the next load; `python -m core compact` runs it now.",
                   icon=":material/warning:")
    else:
        st.empty()
    for i in range(SLOTS):
        job = shown[i] if i < len(shown) else None
        # The last job, when it ended long ago (maybe another user's), in a line: not a red box
        # greeting every new session.
        render_job(job, generation, can_cancel, brief=job in recent[1:] or (job in recent and job not in lately))
    rest = [j for j in lately if j not in shown]
    if rest:
        counts = Counter("loaded" if j["status"] == "completed" else j["status"] for j in rest)
        st.caption(f"{len(rest)} more ended lately ({', '.join(f'{n} {s}' for s, n in counts.most_common())}): "
                   "**Load data › History** has them all.")
    else:
        st.empty()


@st.fragment
def jobs_ended() -> int:
    """How many job endings the watcher has seen (0 without live updates)."""
    return watcher().finished_version if live_updates_enabled() else 0


def job_status(can_cancel: bool = True, jobs_ended: int | None = None) -> None:
    """Running and recent jobs, re-rendered in place on every job event until the session ends;
    when a job ends, the whole app reruns so that maps and charts include its data. ``can_cancel``:
    whether this user gets a Cancel button on running jobs; ``jobs_ended``: ``jobs_ended()`` as
    read before the page read its data (a job that ended since reruns it at once)."""
    w = watcher() if live_updates_enabled() else None
    panel = st.empty()
    generation = 0
    finished = jobs_ended if jobs_ended is not None else (w.finished_version if w else 0)
    while True:
        seen = w.version if w else 0
        with panel.container():
            render_jobs(generation, can_cancel)
        if w is None:
            return
        yield_check = get_run_yield_check()
        while w.finished_version == finished and w.wait(seen, timeout=0.25) == seen:
            if yield_check:
                yield_check()  # hands over to Streamlit when the analyst acts or leaves
        if w.finished_version != finished:
            st.rerun()
        generation += 1
