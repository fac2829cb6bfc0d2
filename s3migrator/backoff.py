"""Pure backoff maths for work that SQS redelivers."""

from __future__ import annotations

MAX_VISIBILITY_S = 43_200


def backoff_s(
    attempt: int, *, base_s: float = 5.0, cap_s: float = 900.0, jitter: float = 1.0
) -> int:
    """Exponential delay before the ``attempt``-th retry (1-based), capped.

    ``jitter`` in [0, 1] scales the delay (full jitter when drawn uniformly by the caller). At
    least a second, but for a base of 0 (no delay: retries at once, as tests want them).
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    if base_s == 0:
        return 0
    delay = min(cap_s, base_s * 2 ** (attempt - 1)) * jitter
    return int(min(MAX_VISIBILITY_S, max(1.0, delay)))
