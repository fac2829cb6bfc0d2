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
