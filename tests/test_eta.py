"""The progress estimate the CLI and the page share (core/ingest/eta.py)."""
import pytest

from core.ingest.eta import SPANS, estimate


def test_phases_follow_each_other_without_gaps_from_zero_to_one():
    spans = list(SPANS.values())[1:]  # after queued
    assert spans[0][0] == 0.0 and spans[-1][1] == 1.0
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


def test_reading_moves_the_bar_through_its_share_and_counts_the_later_phases_in_the_time_left():
    start, end = SPANS["reading"]
    assert estimate("reading", 0, 1000, 5.0) == (start, None)
    done, left = estimate("reading", 500, 1000, 10.0)
    assert done == pytest.approx(start + (end - start) / 2)
    # Half the file read in 10 s: the whole job takes 10 / done seconds, well past the reading.
    assert left == pytest.approx(10.0 / done - 10.0)
    assert left > 10.0, "the phases after reading are counted, not only the bytes left"
    done, left = estimate("reading", 1000, 1000, 20.0)
    assert done == end and left == pytest.approx(20.0 / end - 20.0)


def test_an_ended_job_is_all_done_not_back_at_zero():
    """Pass: the CLI's last progress report may come after the job ended (phase "done"): 100 %."""
    assert estimate("done", 1000, 1000, 30.0) == (1.0, None)


@pytest.mark.parametrize("phase", ["indexing", "summarising", "committing", "hashing", "queued", None])
def test_outside_reading_the_bar_sits_at_the_phase_start_and_no_time_is_guessed(phase):
    assert estimate(phase, 1000, 1000, 30.0) == (SPANS[phase or "queued"][0], None)


def test_unknown_size_or_too_little_read_gives_no_time():
    assert estimate("reading", 10, None, 3.0)[1] is None
    assert estimate("reading", 5, 1000, 3.0)[1] is None  # under 1 % read
    assert estimate("reading", 500, 1000, None)[1] is None
