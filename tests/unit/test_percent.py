"""Percent policy for the copy scenario: 0 started, 5 destination ready, 6-99 copying, 100 done."""

from __future__ import annotations

import pytest

from s3migrator.models import Phase
from s3migrator.percent import COPY_TABLE, percent


@pytest.mark.parametrize(
    ("phase", "expected"),
    [(Phase.STARTED, 0), (Phase.DESTINATION_READY, 5), (Phase.FINISHED, 100)],
)
def test_fixed_phases_have_their_table_value(phase: Phase, expected: int) -> None:
    # WHEN a single-valued phase is reported, whatever the counters say
    value = percent(phase, done=3, total=10, enumeration_complete=True)
    # THEN it is the table's value
    assert value == expected


def test_copy_table_matches_the_documented_ranges() -> None:
    assert (COPY_TABLE[Phase.COPYING].first, COPY_TABLE[Phase.COPYING].last) == (6, 99)


def test_copying_starts_at_six() -> None:
    assert percent(Phase.COPYING, done=0, total=100, enumeration_complete=True) == 6
    assert percent(Phase.COPYING, done=0, total=0, enumeration_complete=False) == 6


def test_copying_tops_out_at_99_when_everything_is_counted() -> None:
    assert percent(Phase.COPYING, done=100, total=100, enumeration_complete=True) == 99


def test_copying_shows_its_first_value_while_enumeration_is_incomplete() -> None:
    # GIVEN every listed object copied but the listing still running (the total unknown)
    value = percent(Phase.COPYING, done=500, total=500, enumeration_complete=False)
    # THEN the percent stays at the copy step's first value, so it cannot fall as the total grows
    assert value == 6


@pytest.mark.parametrize("complete", [True, False])
def test_copying_percent_is_within_6_and_99_and_never_decreases(complete: bool) -> None:
    # WHEN done sweeps past the total (counts can exceed a lower-bound total)
    values = [
        percent(Phase.COPYING, done=d, total=1000, enumeration_complete=complete)
        for d in range(0, 1201, 7)
    ]
    # THEN values stay in the copy range and grow monotonically
    assert min(values) == 6
    assert max(values) == (99 if complete else 6)
    assert values == sorted(values)


def test_copying_is_halfway_at_half_the_objects() -> None:
    assert percent(Phase.COPYING, done=50, total=100, enumeration_complete=True) == 6 + 46
