"""What the direct path (copier.direct_copies) does not settle goes to botocore: against a stub
endpoint that answers what moto will not (server errors, throttles, redirects, silence)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from botocore.exceptions import ClientError
from direct_copy_helpers import (
    COPIED,
    DESTINATION,
    LEARNT,
    REDIRECT,
    SLOW_DOWN,
    Answer,
    Stub,
    after_learning,
    botocore_sends,
    on_stub,
    stubs,
)

from copier.direct_copies import PAUSE_S, DirectCopies


@pytest.fixture
def stub_of() -> Iterator[Callable[[Callable[[int], Answer]], Stub]]:
    with stubs() as make:
        yield make


def test_a_server_error_is_sent_again_by_botocore_with_its_retries(
    stub_of: Callable[..., Stub], direct: DirectCopies, waits: list[float]
) -> None:
    # GIVEN an endpoint that answers SlowDown to everything once the shape is learnt, and
    # botocore allowed 2 attempts
    stub = stub_of(after_learning(lambda _: SLOW_DOWN))
    s3 = on_stub(stub, direct, attempts=2)
    sent = botocore_sends(s3)

    # WHEN an object is copied directly
    with pytest.raises(ClientError) as failed:
        direct.copy_object(s3, Bucket=DESTINATION, Key="k", CopySource="source/k")

    # THEN the direct path tried once, without retrying, and waited as botocore waits before a
    # retry after a throttle (half of 1 s, the drawn half), then botocore tried twice, its budget
    assert failed.value.response["Error"]["Code"] == "SlowDown"
    assert len(stub.requests) == LEARNT + 3
    assert len(sent) == 2
    assert waits == [0.5]


@pytest.mark.parametrize(
    "first",
    [
        (200, b"<CopyObjectResult><ETag>&quot;ab"),
        (200, b"   \n  "),
        (200, b""),
        (200, b"<Error><Code>InternalError</Code><Message>try again</Message></Error>"),
        SLOW_DOWN,
        (403, b"<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>"),
    ],
    ids=["cut-short", "whitespace", "empty", "error-in-200", "slow-down", "denied"],
)
def test_an_answer_the_direct_path_does_not_settle_is_sent_again_by_botocore(
    stub_of: Callable[..., Stub],
    direct: DirectCopies,
    waits: list[float],
    first: tuple[int, bytes],
) -> None:
    # GIVEN an endpoint whose first direct answer is an error, or a 200 without the result
    stub = stub_of(after_learning(lambda index: first if index == 0 else COPIED))
    s3 = on_stub(stub, direct)
    sent = botocore_sends(s3)

    # WHEN an object is copied directly
    answer = direct.copy_object(s3, Bucket=DESTINATION, Key="k", CopySource="source/k")

    # THEN botocore sent it again after a retry's wait (a throttle's, or a server error's), and
    # its copy is the answer
    assert answer["CopyObjectResult"]["ETag"] == '"abc"'
    assert len(stub.requests) == LEARNT + 2
    assert len(sent) == 1
    assert waits == [0.5 if first == SLOW_DOWN else 0.025]


def test_a_redirect_leaves_the_shape_to_botocore_from_then_on(
    stub_of: Callable[..., Stub], direct: DirectCopies, waits: list[float]
) -> None:
    # GIVEN an endpoint that redirects the first direct copy
    stub = stub_of(after_learning(lambda index: REDIRECT if index == 0 else COPIED))
    s3 = on_stub(stub, direct)
    sent = botocore_sends(s3)

    # WHEN two objects are copied
    for key in ("k1", "k2"):
        direct.copy_object(s3, Bucket=DESTINATION, Key=key, CopySource=f"source/{key}")

    # THEN botocore sent the redirected one at once and the next one too
    assert [url.rsplit("/", 1)[-1] for url in sent] == ["k1", "k2"]
    assert len(stub.requests) == LEARNT + 3
    assert waits == []


# (the direct path's deadline, the client's read timeout): either ends the wait at 0.5 s
SILENCE_ENDS = {"at the deadline": (0.5, 60.0), "at the client's read timeout": (120.0, 0.5)}


@pytest.mark.parametrize(("deadline_s", "read_timeout_s"), SILENCE_ENDS.values(), ids=SILENCE_ENDS)
def test_a_silent_endpoint_is_given_up_and_botocore_sends_the_copy_again(
    stub_of: Callable[..., Stub], deadline_s: float, read_timeout_s: float
) -> None:
    # GIVEN an endpoint that never answers the first direct request, and a direct path whose
    # deadline, or a client whose read timeout, is 0.5 s
    stub = stub_of(after_learning(lambda index: None if index == 0 else COPIED))
    waits: list[float] = []
    direct = DirectCopies(deadline_s=deadline_s, sleep=waits.append)
    s3 = on_stub(stub, direct, read_timeout_s=read_timeout_s)
    started = time.monotonic()

    # WHEN an object is copied directly
    answer = direct.copy_object(s3, Bucket=DESTINATION, Key="k", CopySource="source/k")

    # THEN the direct path gave up after 0.5 s (as botocore would have, at its read timeout),
    # botocore sent the copy again at once (the silence was a wait already), and that copy is
    # the answer
    assert time.monotonic() - started < 5.0
    assert answer["CopyObjectResult"]["ETag"] == '"abc"'
    assert len(stub.requests) == LEARNT + 2
    assert waits == []


def test_after_a_throttle_copies_are_botocores_for_a_while(
    stub_of: Callable[..., Stub], waits: list[float]
) -> None:
    # GIVEN a direct path on a fake clock, and an endpoint that throttles the first direct copy
    now = [1000.0]
    direct = DirectCopies(sleep=waits.append, random=lambda: 0.5, clock=lambda: now[0])
    stub = stub_of(after_learning(lambda index: SLOW_DOWN if index == 0 else COPIED))
    s3 = on_stub(stub, direct)
    sent = botocore_sends(s3)

    # WHEN one copy is throttled, one more is made at once, and one after the pause
    for key in ("throttled", "paused"):
        direct.copy_object(s3, Bucket=DESTINATION, Key=key, CopySource=f"source/{key}")
    now[0] += PAUSE_S
    direct.copy_object(s3, Bucket=DESTINATION, Key="resumed", CopySource="source/resumed")

    # THEN botocore sent the throttled copy again and the next one alone; the last went directly
    assert [url.rsplit("/", 1)[-1] for url in sent] == ["throttled", "paused"]
    assert [path.rsplit("/", 1)[-1] for path in stub.requests[LEARNT:]] == [
        "throttled",
        "throttled",
        "paused",
        "resumed",
    ]


def test_a_denial_hands_over_one_copy_and_pauses_nothing(
    stub_of: Callable[..., Stub], direct: DirectCopies
) -> None:
    # GIVEN an endpoint that denies the first direct copy (an object of its own)
    denied = (403, b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>")
    stub = stub_of(after_learning(lambda index: denied if index == 0 else COPIED))
    s3 = on_stub(stub, direct)
    sent = botocore_sends(s3)

    # WHEN it and another are copied
    for key in ("denied", "next"):
        direct.copy_object(s3, Bucket=DESTINATION, Key=key, CopySource=f"source/{key}")

    # THEN botocore sent the denied one again, and the next went directly
    assert [url.rsplit("/", 1)[-1] for url in sent] == ["denied"]


def test_a_retry_after_is_waited_as_botocore_waits_it(
    stub_of: Callable[..., Stub], direct: DirectCopies, waits: list[float]
) -> None:
    # GIVEN an endpoint whose first direct answer is a 503 asking for 4 s
    slow = (*SLOW_DOWN, {"x-amz-retry-after": "4000"})
    stub = stub_of(after_learning(lambda index: slow if index == 0 else COPIED))
    s3 = on_stub(stub, direct)

    # WHEN an object is copied
    direct.copy_object(s3, Bucket=DESTINATION, Key="k", CopySource="source/k")

    # THEN the hand-over waited the 4 s asked (botocore's cap: its own wait, 0.5 s, and 5 more)
    assert waits == [4.0]


def test_a_throttled_client_in_adaptive_mode_is_botocores_for_good(
    stub_of: Callable[..., Stub], waits: list[float]
) -> None:
    # GIVEN a client in botocore's adaptive retry mode whose first direct copy is throttled
    now = [1000.0]
    direct = DirectCopies(sleep=waits.append, random=lambda: 0.5, clock=lambda: now[0])
    stub = stub_of(after_learning(lambda index: SLOW_DOWN if index == 0 else COPIED))
    s3 = on_stub(stub, direct, mode="adaptive")
    sent = botocore_sends(s3)

    # WHEN it is copied, and another one long after the pause
    direct.copy_object(s3, Bucket=DESTINATION, Key="throttled", CopySource="source/throttled")
    now[0] += 10 * PAUSE_S
    direct.copy_object(s3, Bucket=DESTINATION, Key="later", CopySource="source/later")

    # THEN botocore sent both: its rate limiter, engaged by the throttle, paces the client
    assert [url.rsplit("/", 1)[-1] for url in sent] == ["throttled", "later"]


def test_a_client_whose_own_sends_were_throttled_in_adaptive_mode_is_botocores_for_good(
    stub_of: Callable[..., Stub], waits: list[float]
) -> None:
    # GIVEN an adaptive client whose direct copy fails (a server error), whose own send of it
    # is then throttled before it succeeds
    now = [1000.0]
    direct = DirectCopies(sleep=waits.append, random=lambda: 0.5, clock=lambda: now[0])
    failing = (500, b"<Error><Code>InternalError</Code><Message>again</Message></Error>")
    answers = [failing, SLOW_DOWN, COPIED, COPIED]
    stub = stub_of(after_learning(lambda index: answers[index]))
    s3 = on_stub(stub, direct, attempts=3, mode="adaptive")
    sent = botocore_sends(s3)

    # WHEN it is copied, and another one after the pause
    direct.copy_object(s3, Bucket=DESTINATION, Key="failed", CopySource="source/failed")
    now[0] += 10 * PAUSE_S
    direct.copy_object(s3, Bucket=DESTINATION, Key="later", CopySource="source/later")

    # THEN botocore sent the later one too: the throttle it met engaged its rate limiter
    assert [url.rsplit("/", 1)[-1] for url in sent] == ["failed", "failed", "later"]
