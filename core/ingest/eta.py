"""How far a running job has come, and how long it has left: one estimate for the CLI and the page.

A job hashes the file, reads it (parse, validate, COPY), then indexes its rows and writes its
summaries. Only reading can be measured as it goes (bytes read of the file's size); the phases
after it take about as long again, so each phase gets its measured share of the whole
(docs/SCALE.md, ingest phases at 1M and 10M rows: hashing 2-4 %, reading 47-54 %, indexing
24-29 %, summarising 12-26 %, committing under 2 %).
"""
from __future__ import annotations

# phase -> (share of the job done when it starts, when it ends)
SPANS = {
    "queued": (0.0, 0.0),
    "hashing": (0.0, 0.03),
    "reading": (0.03, 0.55),
    "indexing": (0.55, 0.82),
    "summarising": (0.82, 0.99),
    "committing": (0.99, 1.0),
    "done": (1.0, 1.0),  # ended (a last progress report may see it before the job's answer is out)
}


def estimate(phase: str | None, bytes_read: int, file_size: int | None, elapsed: float | None
             ) -> tuple[float, float | None]:
    """(fraction of the job done, seconds left). Seconds left are given while reading only, once
    enough of the file is read to judge; ``None`` otherwise (in the later phases the page and the
    CLI name the phase instead of guessing)."""
    start, end = SPANS.get(phase or "queued", (0.0, 0.0))
    if phase != "reading" or not file_size:
        return start, None
    read = min(max(bytes_read / file_size, 0.0), 1.0)
    done = start + (end - start) * read
    if not elapsed or elapsed <= 0 or read < 0.01:
        return done, None
    return done, max(elapsed / done - elapsed, 0.0)
