"""The wait before botocore re-sends a copy the direct path did not settle (direct_copies)."""

from __future__ import annotations

import pytest

from copier.direct_copies import first_retry_delay_s


@pytest.mark.parametrize(("status", "scale_s"), [(503, 1.0), (429, 1.0)])
def test_a_throttle_waits_a_drawn_part_of_a_second(status: int, scale_s: float) -> None:
    assert first_retry_delay_s(status, 0.0) == 0.0
    assert first_retry_delay_s(status, 0.5) == 0.5 * scale_s
    assert first_retry_delay_s(status, 0.999) == pytest.approx(0.999 * scale_s)


@pytest.mark.parametrize("status", [None, 500, 502, 504, 400, 403, 301])
def test_other_failures_wait_a_drawn_part_of_50_ms(status: int | None) -> None:
    assert first_retry_delay_s(status, 0.5) == pytest.approx(0.025)
    assert first_retry_delay_s(status, 0.999) < 0.05


@pytest.mark.parametrize(
    ("status", "retry_after_ms", "wait_s"),
    [
        (503, "4000", 4.0),  # asked for more than the backoff: the asked wait
        (503, "100", 0.5),  # asked for less: the backoff
        (503, "60000", 5.5),  # asked for much more: the backoff and 5 s, botocore's cap
        (500, "2000", 2.0),
        (503, "-1", 0.5),  # not a wait: ignored, as botocore ignores it
        (503, "soon", 0.5),
    ],
)
def test_an_answers_retry_after_is_waited_up_to_botocores_cap(
    status: int, retry_after_ms: str, wait_s: float
) -> None:
    assert first_retry_delay_s(status, 0.5, retry_after_ms) == pytest.approx(wait_s)
