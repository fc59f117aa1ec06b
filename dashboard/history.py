"""Load data › History: the jobs table and the rejected rows of a job (Streamlit elements)."""
from __future__ import annotations

import io

import pandas as pd
import streamlit as st

import core
import live


def table(history: list[dict]) -> None:
    """The jobs, newest first, with why each that failed did."""
    hist = pd.DataFrame([{k: j[k] for k in ("job_id", "file_name", "status", "error", "rows_loaded",  # why, next to
                                             "rows_rejected", "created_at", "finished_at", "source")}  # the status
                         for j in history])
    running = hist["status"].isin(["queued", "running"])
    # blank (not "None"): nothing is loaded until the job commits
    hist["rows_loaded"] = ["" if r else f"{int(n):,}" for n, r in zip(hist["rows_loaded"].fillna(0), running)]
    for col in ("created_at", "finished_at"):  # text: a running job's end is blank, not "None"
        hist[col] = pd.to_datetime(hist[col], utc=True).dt.strftime("%Y-%m-%d %H:%M").fillna("")
    hist["error"] = [live.without_name(e if isinstance(e, str) else "", n)
                     for e, n in zip(hist["error"], hist["file_name"])]
    st.dataframe(hist, hide_index=True, column_config={
        "job_id": st.column_config.NumberColumn("Job", format="%d"),
        # (widths: every column in a 1440 px window; the newest job first, its minute is enough)
        "file_name": st.column_config.TextColumn("File", width=170),
        "status": st.column_config.TextColumn("Status", width=90),
        "rows_loaded": st.column_config.TextColumn("Loaded", width=100, alignment="right"),
        "rows_rejected": st.column_config.NumberColumn("Rejected", format="localized", width=80),
        "source": st.column_config.TextColumn("From", width=120),  # "dashboard" whole
        "created_at": st.column_config.TextColumn("Submitted (UTC)"),
        "finished_at": st.column_config.TextColumn("Finished (UTC)"),
        "error": st.column_config.TextColumn("Message", width=170, help="Hover a cell to read it all")})


def ended_with_rejects(job: dict) -> bool:
    """A running job's rejects are not committed yet (its progress counts them)."""
    return bool(job["rows_rejected"]) and job["status"] not in ("queued", "running")


def rejects_csv(job_id: int) -> str:
    out = io.StringIO()
    core.write_rejects_csv(job_id, out)
    return out.getvalue()


def rejects_browser(history: list[dict]) -> None:
    """The rejected rows of a job chosen among those of ``history`` that have some."""
    names = {j["job_id"]: f'{j["job_id"]}: {j["file_name"]} ({j["status"]}, {j["rows_rejected"]:,} rejected)'
             for j in history if ended_with_rejects(j)}
    newest = max(names)
    # A fixed key (new jobs do not make a new widget); a job with rejects that ends is shown first.
    if st.session_state.get("rejects_of") not in names or st.session_state.get("rejects_newest") != newest:
        st.session_state["rejects_of"] = newest
    st.session_state["rejects_newest"] = newest
    jid = st.selectbox("Rejected rows of job", list(names), format_func=names.get, key="rejects_of")
    rej = pd.DataFrame(core.rejects(jid, limit=1000)).fillna("")
    st.dataframe(rej, hide_index=True, column_config={
        "line": st.column_config.NumberColumn("Line", format="%d"), "column": "Column", "reason": "Reason",
        "message": st.column_config.TextColumn("Why", width="large"), "raw": "Record as read"})
    st.download_button("Download all rejects (CSV)",  # built only when clicked
                       lambda: rejects_csv(jid),
                       f"rejects_job_{jid}.csv", "text/csv", icon=":material/download:", on_click="ignore")
