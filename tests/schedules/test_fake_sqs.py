"""The fake SQS behaves like SQS, at its worst when asked, and replays from its seed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, wait

import pytest
from botocore.exceptions import ClientError

from s3migrator.errors import NotFoundError, PermanentError
from s3migrator.sqs.intake import Intake
from s3migrator.sqs.queues import queue_depth, send_bodies
from s3migrator.sqs.visibility import VisibilityKeeper

from .fake_sqs import RETENTION_S, SENDER_ID, FakeClock, FakeSQS

VISIBILITY_S = 30
FIRST_DELIVERY = {"ApproximateReceiveCount": "1", "SentTimestamp": "1000000", "SenderId": SENDER_ID}
COUNTS = [f"ApproximateNumberOfMessages{kind}" for kind in ("", "NotVisible", "Delayed")]


def make(**knobs: object) -> tuple[FakeSQS, FakeClock, str]:
    clock = FakeClock(1_000.0)
    sqs = FakeSQS(seed=7, clock=clock, **knobs)  # type: ignore[arg-type]
    return sqs, clock, sqs.create_queue("work", visibility_s=VISIBILITY_S)


def receive(sqs: FakeSQS, url: str, n: int = 10, **extra: object) -> list[dict]:
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n, **extra).get("Messages", [])


def extend(sqs: FakeSQS, url: str, message: dict, timeout_s: int) -> None:
    handle = message["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=timeout_s)


def refusal(call, *args: object, **kwargs: object) -> str:
    with pytest.raises(ClientError) as excinfo:
        call(*args, **kwargs)
    return str(excinfo.value.response["Error"]["Code"])


def entries(n: int, body: str = "x") -> list[dict[str, str]]:
    return [{"Id": str(i), "MessageBody": body} for i in range(n)]


def test_a_sent_message_is_received_once_and_gone_after_its_delete() -> None:
    # GIVEN a queue with one message
    sqs, clock, url = make()
    sent = sqs.send_message(QueueUrl=url, MessageBody="hello")
    # WHEN it is received, then deleted
    (message,) = receive(sqs, url, WaitTimeSeconds=20)
    assert receive(sqs, url) == []  # in flight: nobody else gets it
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    # THEN it was the message sent, and it never comes back
    assert (message["MessageId"], message["Body"]) == (sent["MessageId"], "hello")
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"] == "5d41402abc4b2a76b9719d911017c592"
    assert len(message["MessageId"]) == 36 and message["MessageId"][14] == "4"
    clock.advance(VISIBILITY_S + 1)
    assert (receive(sqs, url), sqs.bodies(url), sqs.sent_bodies(url)) == ([], [], ["hello"])
    # AND deleting it again succeeds silently
    assert sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_an_expired_visibility_timeout_redelivers_under_a_new_handle_the_old_one_stale() -> None:
    # GIVEN a received message
    sqs, clock, url = make()
    sqs.send_message(QueueUrl=url, MessageBody="job")
    (first,) = receive(sqs, url, AttributeNames=["All"])
    # WHEN its visibility timeout passes
    clock.advance(VISIBILITY_S - 1)
    assert receive(sqs, url) == []
    clock.advance(1)
    (second,) = receive(sqs, url, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    # THEN it comes back, with a new receipt handle and a higher receive count
    assert second["MessageId"] == first["MessageId"]
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    assert first["Attributes"] == FIRST_DELIVERY
    assert second["Attributes"] == {"ApproximateReceiveCount": "2"}
    # AND the first holder's stale handle cannot change its visibility, the current one can
    assert refusal(extend, sqs, url, first, 60) == "InvalidParameterValue"
    extend(sqs, url, second, 60)
    clock.advance(59)
    assert sqs.in_flight(url) == ["job"]


def test_visibility_changes_sqs_refuses() -> None:
    # GIVEN one message released at once by its holder, and one held for almost twelve hours
    sqs, clock, url = make()
    send_bodies(sqs, url, ["a", "b"])
    (a,) = receive(sqs, url, n=1)
    extend(sqs, url, a, 0)
    (b,) = receive(sqs, url, n=1, VisibilityTimeout=43_000)
    clock.advance(42_990)
    # WHEN their visibility is changed (once more, past twelve hours, to a bad value)
    # THEN SQS refuses each, as it does a made-up receipt handle
    assert refusal(extend, sqs, url, a, 5) == "InvalidParameterValue"  # not in flight
    assert refusal(extend, sqs, url, b, 300) == "InvalidParameterValue"
    assert refusal(extend, sqs, url, b, -1) == "InvalidParameterValue"
    extend(sqs, url, b, 10)
    assert refusal(extend, sqs, url, {"ReceiptHandle": "nonsense"}, 5) == "ReceiptHandleIsInvalid"


@pytest.mark.parametrize(("stale_delete", "left"), [("deletes", []), ("ignored", ["job"])])
def test_a_delete_with_a_stale_handle_follows_the_stale_delete_knob(stale_delete, left) -> None:
    # GIVEN a message received twice
    sqs, clock, url = make(stale_delete=stale_delete)
    sqs.send_message(QueueUrl=url, MessageBody="job")
    (first,) = receive(sqs, url)
    clock.advance(VISIBILITY_S)
    receive(sqs, url)
    # WHEN the first holder deletes it with its stale handle
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    # THEN the message is gone, or still there, as the knob says
    assert sqs.bodies(url) == left


def test_delay_seconds_hide_a_message_until_the_clock_passes_them() -> None:
    # GIVEN a message sent with a delay, and a batch entry with a longer one
    sqs, clock, url = make()
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    batched = [{"Id": "a", "MessageBody": "batched", "DelaySeconds": 120}]
    sqs.send_message_batch(QueueUrl=url, Entries=batched)
    # WHEN the clock moves on
    # THEN each appears once its delay has passed, not before
    bodies_seen = []
    for step in (59, 1, 59, 1):
        clock.advance(step)
        messages = receive(sqs, url, VisibilityTimeout=600)
        bodies_seen.append([m["Body"] for m in messages])
    assert bodies_seen == [[], ["later"], [], ["batched"]]


def test_the_redrive_policy_moves_a_message_to_the_dlq_after_max_receive_count_receives() -> None:
    # GIVEN a queue whose redrive policy allows three receives
    sqs, clock, _ = make()
    dlq = sqs.create_queue("work-dlq")
    url = sqs.create_queue("jobs", visibility_s=10, max_receive_count=3, dead_letter_url=dlq)
    sent = sqs.send_message(QueueUrl=url, MessageBody="poison")
    # WHEN nobody ever deletes it
    for _ in range(3):
        assert [m["Body"] for m in receive(sqs, url)] == ["poison"]
        clock.advance(10)
    # THEN the fourth receive attempt moves it to the dead-letter queue instead
    assert (receive(sqs, url), sqs.bodies(url)) == ([], [])
    (dead,) = receive(sqs, dlq, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert (dead["MessageId"], dead["Body"]) == (sent["MessageId"], "poison")
    assert dead["Attributes"] == {"ApproximateReceiveCount": "1"}


@pytest.mark.parametrize("bad", ["\x00", "a\x0bb", "\ud800", "\ufffe", "\x1f"])
def test_invalid_characters_are_refused_by_send_and_reported_failed_by_batch(bad: str) -> None:
    # GIVEN a body with a character SQS does not allow
    sqs, _, url = make()
    # WHEN it is sent alone, in a batch after a good body, and through the product's send_bodies
    code = refusal(sqs.send_message, QueueUrl=url, MessageBody=bad)
    batch = [{"Id": "good", "MessageBody": "fine"}, {"Id": "bad", "MessageBody": bad}]
    result = sqs.send_message_batch(QueueUrl=url, Entries=batch)
    with pytest.raises(PermanentError) as refused:
        send_bodies(sqs, url, [bad])
    # THEN the send raises, and the batch sends the good body and blames the sender for the bad
    assert code == refused.value.code == "InvalidMessageContents"
    assert [s["Id"] for s in result["Successful"]] == ["good"]
    failed = [(f["Id"], f["SenderFault"], f["Code"]) for f in result["Failed"]]
    assert failed == [("bad", True, "InvalidMessageContents")]
    assert sqs.bodies(url) == ["fine"]


@pytest.mark.parametrize(
    ("method", "arguments", "code"),
    [
        ("receive_message", {"MaxNumberOfMessages": 11}, "InvalidParameterValue"),
        ("receive_message", {"MaxNumberOfMessages": 0}, "InvalidParameterValue"),
        ("receive_message", {"VisibilityTimeout": 43_201}, "InvalidParameterValue"),
        ("send_message", {"MessageBody": "x", "DelaySeconds": 901}, "InvalidParameterValue"),
        ("send_message", {"MessageBody": "x" * 101}, "InvalidParameterValue"),
        ("send_message", {"MessageBody": ""}, "MissingParameter"),
        ("send_message_batch", {"Entries": []}, "EmptyBatchRequest"),
        ("send_message_batch", {"Entries": entries(11)}, "TooManyEntriesInBatchRequest"),
        ("send_message_batch", {"Entries": entries(1) * 2}, "BatchEntryIdsNotDistinct"),
        ("send_message_batch", {"Entries": entries(2, "x" * 60)}, "BatchRequestTooLong"),
    ],
)
def test_requests_beyond_sqs_limits_are_refused(method: str, arguments: dict, code: str) -> None:
    # GIVEN a queue taking bodies of at most 100 bytes
    sqs, _, url = make(max_body_bytes=100)
    # WHEN a request breaks one of SQS's limits
    refused = refusal(getattr(sqs, method), QueueUrl=url, **arguments)
    # THEN it is refused with SQS's code, and nothing was stored
    assert refused.removeprefix("AWS.SimpleQueueService.") == code
    assert sqs.bodies(url) == []


@pytest.mark.parametrize(
    ("method", "arguments"),
    [
        ("send_message", {"MessageBody": "x"}),
        ("send_message_batch", {"Entries": entries(1)}),
        ("receive_message", {}),
        ("delete_message", {"ReceiptHandle": "h"}),
        ("change_message_visibility", {"ReceiptHandle": "h", "VisibilityTimeout": 0}),
        ("get_queue_attributes", {"AttributeNames": ["All"]}),
        ("purge_queue", {}),
    ],
)
def test_an_unknown_queue_url_is_a_non_existent_queue(method: str, arguments: dict) -> None:
    # GIVEN a fake without the queue
    sqs, _, url = make()
    # WHEN a call names it
    code = refusal(getattr(sqs, method), QueueUrl=url + "-nope", **arguments)
    # THEN it raises SQS's error for it, which the product reads as a missing queue
    assert code == "AWS.SimpleQueueService.NonExistentQueue"
    with pytest.raises(NotFoundError):
        queue_depth(sqs, url + "-nope")


@pytest.mark.parametrize("knob", ["duplicate_p", "lose_visibility_p"])
def test_duplicate_and_lost_visibility_deliver_a_message_again_while_it_is_worked_on(knob) -> None:
    # GIVEN a fake that always leaves a received message visible (a duplicate, a lost timeout)
    sqs, _, url = make(**{knob: 1.0})
    sqs.send_message(QueueUrl=url, MessageBody="job")
    # WHEN two receives follow each other at once
    (first,) = receive(sqs, url, VisibilityTimeout=600)
    assert (sqs.visible(url), sqs.in_flight(url)) == (["job"], [])
    (second,) = receive(sqs, url)
    # THEN both get the same message, under different receipt handles
    assert first["MessageId"] == second["MessageId"]
    assert first["ReceiptHandle"] != second["ReceiptHandle"]


def test_drop_delete_p_acknowledges_a_delete_that_never_happens() -> None:
    # GIVEN a fake that loses every delete
    sqs, clock, url = make(drop_delete_p=1.0)
    sqs.send_message(QueueUrl=url, MessageBody="job")
    (message,) = receive(sqs, url)
    # WHEN the holder deletes it
    response = sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    # THEN the delete looks fine, but the message returns after its visibility timeout
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert sqs.in_flight(url) == ["job"]
    clock.advance(VISIBILITY_S)
    assert [m["MessageId"] for m in receive(sqs, url)] == [message["MessageId"]]


def test_receive_empty_p_returns_nothing_although_messages_are_visible() -> None:
    # GIVEN a fake whose long polls come back empty half the time, seeded
    sqs, _, url = make(receive_empty_p=0.5)
    sqs.send_message(QueueUrl=url, MessageBody="job")
    # WHEN the visible message is received forty times (and left visible each time)
    empties = sum(not receive(sqs, url, WaitTimeSeconds=20, VisibilityTimeout=0) for _ in range(40))
    # THEN half of them (exactly, with seed 7) found nothing, though the message was there
    assert empties == 20
    assert sqs.visible(url) == ["job"]


def test_receives_take_visible_messages_in_random_order() -> None:
    # GIVEN ten messages sent in order
    sqs, _, url = make()
    bodies = [f"m{i}" for i in range(10)]
    send_bodies(sqs, url, bodies)
    # WHEN they are received one at a time
    received = [receive(sqs, url, n=1)[0]["Body"] for _ in range(10)]
    # THEN all arrive, not in the order sent
    assert sorted(received) == sorted(bodies)
    assert received != bodies


def test_messages_older_than_the_retention_period_disappear() -> None:
    # GIVEN a message sent fourteen days less a second ago
    sqs, clock, url = make()
    sqs.send_message(QueueUrl=url, MessageBody="old")
    clock.advance(RETENTION_S - 1)
    assert sqs.bodies(url) == ["old"]
    # WHEN the last second passes
    clock.advance(1)
    # THEN it is gone (the log of sends keeps it)
    assert (sqs.bodies(url), sqs.sent_bodies(url)) == ([], ["old"])


def scripted_run(seed: int) -> list[tuple[str, str, str]]:
    clock = FakeClock()
    knobs = {"duplicate_p": 0.3, "lose_visibility_p": 0.2, "drop_delete_p": 0.3}
    sqs = FakeSQS(seed=seed, clock=clock, receive_empty_p=0.2, **knobs)
    url = sqs.create_queue("work", visibility_s=5)
    send_bodies(sqs, url, [f"b{i}" for i in range(8)])
    deliveries = []
    for step in range(30):
        for message in receive(sqs, url, n=3):
            deliveries.append((message["MessageId"], message["Body"], message["ReceiptHandle"]))
            if step % 2:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        clock.advance(2)
    return deliveries


def test_the_same_seed_gives_the_same_deliveries() -> None:
    # GIVEN the same script, with every knob on, run twice with one seed and once with another
    # WHEN their deliveries are compared
    first, again, other = scripted_run(11), scripted_run(11), scripted_run(12)
    # THEN the same seed replays exactly, and another seed differs
    assert len(first) > 8
    assert first == again != other


def test_queue_attributes_count_visible_in_flight_and_delayed_messages() -> None:
    # GIVEN three messages sent now, one delayed, and one of the three received
    sqs, _, url = make()
    send_bodies(sqs, url, ["a", "b", "c"])
    sqs.send_message(QueueUrl=url, MessageBody="d", DelaySeconds=30)
    receive(sqs, url, n=1)
    # WHEN the queue's attributes are read
    named = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=COUNTS)["Attributes"]
    everything = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    # THEN they count each kind, as strings
    assert named == dict(zip(COUNTS, ["2", "1", "1"], strict=True))
    assert everything == {**named, "VisibilityTimeout": "30", "MaximumMessageSize": "262144"}
    assert queue_depth(sqs, url) == (2, 1)


def test_a_visibility_batch_reports_stale_entries_failed_and_extends_the_others() -> None:
    # GIVEN two held messages, one of them since redelivered to someone else
    sqs, clock, url = make()
    send_bodies(sqs, url, ["a", "b"])
    held = {m["Body"]: m["ReceiptHandle"] for m in receive(sqs, url)}
    extend(sqs, url, {"ReceiptHandle": held["b"]}, 0)
    receive(sqs, url)
    # WHEN a heartbeat extends both
    beats = [{"Id": b, "ReceiptHandle": held[b], "VisibilityTimeout": 90} for b in "ab"]
    result = sqs.change_message_visibility_batch(QueueUrl=url, Entries=beats)
    # THEN the stale one fails as the sender's fault, and the other stays in flight
    assert result["Successful"] == [{"Id": "a"}]
    failed = [(f["Id"], f["SenderFault"], f["Code"]) for f in result["Failed"]]
    assert failed == [("b", True, "InvalidParameterValue")]
    clock.advance(89)
    assert sorted(sqs.in_flight(url)) == ["a"]


def test_attributes_and_every_allowed_character_arrive_and_purge_empties_the_queue() -> None:
    # GIVEN a dead letter sent with attributes, as the coordinator's reject does
    sqs, _, url = make()
    body = "\t\n\r \ud7ff\ue000\ufffd\U00010000\U0010ffff"
    reason = {"DataType": "String", "StringValue": "not a job"}
    sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes={"reason": reason})
    # WHEN it is received asking for all attributes, then the queue is purged
    (message,) = receive(sqs, url, MessageAttributeNames=["All"])
    sqs.purge_queue(QueueUrl=url)
    # THEN body and attributes came unchanged, and nothing is left
    assert (message["Body"], message["MessageAttributes"]) == (body, {"reason": reason})
    assert sqs.bodies(url) == []


def test_threads_sending_and_receiving_at_once_lose_and_duplicate_nothing() -> None:
    # GIVEN eight threads each sending fifty bodies, receiving and deleting as they go
    sqs, _, url = make()
    seen: list[str] = []

    def work(n: int) -> None:
        for i in range(50):
            sqs.send_message(QueueUrl=url, MessageBody=f"{n}-{i}")
            for message in receive(sqs, url, n=2):
                seen.append(message["Body"])  # list.append is atomic
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    # WHEN they all run at once
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    # THEN every body was delivered exactly once, or is still waiting
    every = sorted(f"{n}-{i}" for n in range(8) for i in range(50))
    assert sorted(seen + sqs.bodies(url)) == every


def test_the_products_send_depth_and_intake_work_against_the_fake() -> None:
    # GIVEN six work bodies sent the product's way, and an Intake with four slots
    sqs, _, url = make()
    bodies = [f"batch-{i}" for i in range(6)]
    send_bodies(sqs, url, bodies)
    handled: list[str] = []
    go = threading.Event()

    def handle(message, keeper: VisibilityKeeper) -> None:
        go.wait(5)
        handled.append(message["Body"])
        keeper.release(message["MessageId"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    keeper = VisibilityKeeper(sqs, url, VISIBILITY_S)  # not entered: no heartbeat thread
    with ThreadPoolExecutor(4) as pool:
        intake = Intake(sqs, url, keeper, pool, handle, slots=4, visibility_s=30, wait_time_s=20)
        # WHEN it takes turns until the queue is drained
        assert intake.turn() == 4
        assert queue_depth(sqs, url) == (2, 4)
        go.set()
        wait(intake.active)
        assert intake.turn() == 2
        wait(intake.active)
        assert intake.turn() == 0
    # THEN each body was handled once, and the queue is empty
    assert sorted(handled) == sorted(bodies)
    assert (queue_depth(sqs, url), sqs.bodies(url)) == ((0, 0), [])
