"""Scaling policy: backlog per task toward a target, zero when the queue is empty."""

from __future__ import annotations

import pytest

from progress.scaling import backlog_per_copier, copiers_needed_from_zero, desired_copiers


def test_zero_copiers_when_nothing_is_queued_or_in_flight() -> None:
    assert desired_copiers(visible=0, in_flight=0, target_backlog_per_task=4, max_tasks=10) == 0


def test_min_tasks_are_kept_when_the_queue_is_empty() -> None:
    assert (
        desired_copiers(
            visible=0, in_flight=0, target_backlog_per_task=4, max_tasks=10, min_tasks=2
        )
        == 2
    )


@pytest.mark.parametrize(("backlog", "expected"), [(1, 1), (4, 1), (5, 2), (8, 2), (9, 3)])
def test_copiers_are_backlog_divided_by_target_rounded_up(backlog: int, expected: int) -> None:
    assert (
        desired_copiers(visible=backlog, in_flight=0, target_backlog_per_task=4, max_tasks=100)
        == expected
    )


def test_in_flight_messages_count_as_backlog() -> None:
    # GIVEN nothing visible but 9 batches being worked on
    wanted = desired_copiers(visible=0, in_flight=9, target_backlog_per_task=4, max_tasks=100)
    # THEN the copiers working on them are kept
    assert wanted == 3
    assert desired_copiers(visible=3, in_flight=6, target_backlog_per_task=4, max_tasks=100) == 3


def test_copiers_are_bounded_by_max_tasks() -> None:
    assert (
        desired_copiers(visible=10_000, in_flight=50, target_backlog_per_task=4, max_tasks=25) == 25
    )


def test_target_below_one_is_rejected() -> None:
    with pytest.raises(ValueError):
        desired_copiers(visible=1, in_flight=0, target_backlog_per_task=0, max_tasks=10)


def test_a_maximum_of_zero_tasks_is_respected_even_with_work_queued() -> None:
    # GIVEN copiers disabled (max 0) while work waits
    # WHEN the policy runs
    desired = desired_copiers(visible=50, in_flight=0, target_backlog_per_task=4, max_tasks=0)
    # THEN it asks for none rather than overriding the bound
    assert desired == 0


def test_backlog_per_copier_counts_in_flight_work_and_never_divides_by_zero() -> None:
    assert backlog_per_copier(visible=6, in_flight=2, running=4) == 2.0
    assert backlog_per_copier(visible=3, in_flight=0, running=0) == 3.0
    assert backlog_per_copier(visible=0, in_flight=0, running=5) == 0.0


def test_the_first_copier_is_asked_for_only_when_work_waits_and_none_runs() -> None:
    assert copiers_needed_from_zero(visible=1, in_flight=0, running=0) == 1
    assert copiers_needed_from_zero(visible=0, in_flight=2, running=0) == 1
    assert copiers_needed_from_zero(visible=5, in_flight=0, running=1) == 0
    assert copiers_needed_from_zero(visible=0, in_flight=0, running=0) == 0
