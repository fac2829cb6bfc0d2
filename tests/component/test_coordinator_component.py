"""The coordinator against moto: job records, destination bucket, checkpointed batched listing."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from moto_helpers import depth, fill, job_message, receive_all

from coordinator.batching import batch_id
from coordinator.jobs import RunEnd
from progress.status import current_percent
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState, ListingCheckpoint, Phase
from s3migrator.resources import Resources
from s3migrator.work import WorkBatch


def source_objects(count: int) -> dict[str, bytes]:
    return {f"data/{i:04d}.txt": b"x" * (i % 13 + 1) for i in range(count)}


def work_batches(sqs: Any, resources: Resources) -> list[WorkBatch]:
    return [
        WorkBatch.model_validate_json(m["Body"]) for m in receive_all(sqs, resources.work_queue_url)
    ]


def test_job_is_listed_into_deterministic_batches_with_an_exact_checkpoint(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a source bucket of 450 objects and no destination bucket
    objects = source_objects(450)
    fill(s3, "src-bucket", objects)
    runner = make_runner(batch_max_keys=100)
    # WHEN the job runs
    end = runner.run(job_message("job-1"))
    # THEN the destination bucket exists and the listing is complete
    assert end == RunEnd.LISTED
    s3.head_bucket(Bucket="dst-bucket")
    # AND five batches carry every key once, with ids made of the job id and sequence
    batches = sorted(work_batches(sqs, resources), key=lambda b: b.batch_id)
    assert [b.batch_id for b in batches] == [batch_id("job-1", seq) for seq in range(5)]
    assert [len(b.items) for b in batches] == [100] * 4 + [50]
    assert [i.key for b in batches for i in b.items] == sorted(objects)
    assert {i.key: i.size for b in batches for i in b.items} == {
        k: len(v) for k, v in objects.items()
    }
    # AND the checkpoint says the listing is complete, with exact totals
    job = store.get_job("job-1")
    assert job is not None
    assert job.listing == ListingCheckpoint(
        start_after="data/0449.txt",
        next_seq=5,
        objects=450,
        bytes=sum(len(v) for v in objects.values()),
        complete=True,
    )
    # AND it is copying: the progress function shows the copy step's first percent
    assert (job.state, job.phase, current_percent(job)) == (JobState.RUNNING, Phase.COPYING, 6)


def test_only_keys_under_the_source_prefix_are_listed(
    s3: Any, sqs: Any, resources: Resources, make_runner: Any
) -> None:
    fill(s3, "src-bucket", {"in/a": b"1", "in/b/c": b"22", "other/d": b"333", "inx": b"4"})
    make_runner().run(job_message("job-1", source_prefix="in/", destination_prefix="out/"))
    (batch,) = work_batches(sqs, resources)
    assert [i.key for i in batch.items] == ["in/a", "in/b/c"]
    assert batch.spec.destination.prefix == "out/"


def test_empty_source_completes_listing_without_batches(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    fill(s3, "src-bucket", {})
    assert make_runner().run(job_message("job-1")) == RunEnd.LISTED
    assert depth(sqs, resources.work_queue_url) == 0
    listing = store.get_job("job-1").listing  # type: ignore[union-attr]
    assert (listing.complete, listing.next_seq, listing.objects) == (True, 0, 0)


def assert_fully_listed_once(
    sqs: Any, store: JobStore, resources: Resources, objects: dict[str, bytes], batches: int
) -> None:
    """Every key was sent exactly once, in batches numbered 0..batches-1 without gaps."""
    sent = work_batches(sqs, resources)
    assert sorted(b.batch_id for b in sent) == [batch_id("job-1", s) for s in range(batches)]
    keys = Counter(i.key for b in sent for i in b.items)
    assert set(keys) == set(objects)
    assert set(keys.values()) == {1}
    job = store.get_job("job-1")
    assert job is not None
    assert (job.listing.complete, job.listing.next_seq, job.listing.objects) == (
        True,
        batches,
        len(objects),
    )
    assert job.listing.bytes == sum(len(v) for v in objects.values())


def stopped_after_first_flush(s3: Any, make_runner: Any, objects: dict[str, bytes]) -> Any:
    """A coordinator told to stop while listing 25 batches: it stops after sending 10."""
    fill(s3, "src-bucket", objects)
    first = make_runner(batch_max_keys=10)
    first.stop.set()
    assert first.run(job_message("job-1")) == RunEnd.STOPPED
    return first


def test_listing_resumes_after_a_stop_without_losing_or_renumbering_keys(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN 250 objects (25 batches of 10, checkpointed every 10 sends) and a coordinator that
    # was stopped after its first flush
    objects = source_objects(250)
    stopped_after_first_flush(s3, make_runner, objects)
    # THEN ten batches went out and the checkpoint stands after them
    partial = store.get_job("job-1")
    assert partial is not None
    assert (partial.listing.next_seq, partial.listing.objects) == (10, 100)
    assert partial.listing.complete is False
    assert depth(sqs, resources.work_queue_url) == 10
    # WHEN another coordinator receives the job message again
    end = make_runner(batch_max_keys=10).run(job_message("job-1"))
    # THEN it continues from the checkpoint: 25 distinct batches, every key exactly once
    assert end == RunEnd.LISTED
    assert_fully_listed_once(sqs, store, resources, objects, batches=25)


def test_a_crashed_coordinators_lease_holds_off_others_until_it_expires(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    clock: Any,
) -> None:
    # GIVEN a coordinator that sent 10 of 25 batches, checkpointed, and died holding its lease
    objects = source_objects(250)
    first = stopped_after_first_flush(s3, make_runner, objects)
    assert store.acquire_lease("job-1", first.owner, lease_s=120)  # the lease it held
    # WHEN a second coordinator gets the job message while that lease is live
    second = make_runner(batch_max_keys=10)
    # THEN it does not take the job (the holder carries on, or the watchdog resumes it) and
    # sends nothing
    assert second.run(job_message("job-1")) is None
    assert depth(sqs, resources.work_queue_url) == 10
    # WHEN the clock passes the lease's end and the second coordinator retries
    clock.advance(3600)
    assert second.run(job_message("job-1")) == RunEnd.LISTED
    # THEN the listing went on from the checkpoint with nothing lost or renumbered
    assert_fully_listed_once(sqs, store, resources, objects, batches=25)


def test_a_coordinator_whose_lease_was_taken_over_leaves_the_job_to_the_new_holder(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a listing of 25 batches that stalls after its first checkpoint for longer than its
    # lease, while another coordinator takes the job over
    fill(s3, "src-bucket", source_objects(250))
    runner = make_runner(batch_max_keys=10, lease_s=60)
    define = store.define_group

    def stall_after_defining(*args: Any, **kwargs: Any) -> None:
        define(*args, **kwargs)
        if not hasattr(stall_after_defining, "done"):
            stall_after_defining.done = True  # type: ignore[attr-defined]
            clock.advance(61)
            assert store.acquire_lease("job-1", "the-other-coordinator", lease_s=60)

    monkeypatch.setattr(store, "define_group", stall_after_defining)
    # WHEN the stalled coordinator goes on and checkpoints again
    end = runner.run(job_message("job-1"))
    # THEN it stops at once and leaves the job to the new holder
    assert end == RunEnd.LOST
    # AND the new holder's lease and the first checkpoint stand; nothing was logged as a crash
    job = store.get_job("job-1")
    assert job is not None
    assert (job.listing.next_seq, job.listing.complete) == (10, False)
    assert depth(sqs, resources.work_queue_url) == 10  # nothing sent once the lease was gone
    assert not [r for r in caplog.records if r.exc_info]
    assert "held by another coordinator" in caplog.text


def test_batches_defined_but_never_sent_are_sent_by_the_next_run_with_their_ids_and_keys(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a listing that defined batches 10-19 and died before sending them
    objects = source_objects(250)
    fill(s3, "src-bucket", objects)
    runner = make_runner(batch_max_keys=10)
    sends = Counter[str]()

    def killed_before_the_second_send(**_: Any) -> None:
        sends["batch"] += 1
        if sends["batch"] == 2:
            raise RuntimeError("killed")

    runner.sqs.meta.events.register(
        "before-call.sqs.SendMessageBatch", killed_before_the_second_send
    )
    assert runner.run(job_message("job-1")) == RunEnd.RETRYING
    partial = store.get_job("job-1")
    assert partial is not None
    assert (partial.listing.group_start, partial.listing.next_seq) == (10, 20)
    # WHEN the listing resumes to the end
    assert make_runner(batch_max_keys=10).run(job_message("job-1")) == RunEnd.LISTED
    # THEN every batch went out once, batches 10-19 with the keys they were defined with
    assert_fully_listed_once(sqs, store, resources, objects, batches=25)


def test_the_same_job_id_twice_never_starts_a_second_job(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a job that was fully listed
    fill(s3, "src-bucket", source_objects(30))
    assert make_runner(batch_max_keys=10).run(job_message("job-1")) == RunEnd.LISTED
    assert depth(sqs, resources.work_queue_url) == 3
    before = store.get_job("job-1")
    # WHEN its message arrives again at another coordinator
    end = make_runner(batch_max_keys=10).run(job_message("job-1"))
    # THEN it is dropped: no new batches, one job, record unchanged
    assert end is None
    assert depth(sqs, resources.work_queue_url) == 3
    assert [j.job_id for j in store.list_jobs()] == ["job-1"]
    assert store.get_job("job-1") == before


def test_missing_source_bucket_fails_the_job_with_a_reason(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN no source bucket
    # WHEN a job names it
    end = make_runner().run(job_message("job-1", source="no-such-bucket"))
    # THEN the job failed with the reason, nothing was sent, no destination was created
    assert end == RunEnd.FAILED
    job = store.get_job("job-1")
    assert job is not None
    assert job.state is JobState.FAILED
    assert job.phase is Phase.FINISHED
    assert "no-such-bucket" in (job.error or "")
    assert "does not exist" in (job.error or "")
    assert depth(sqs, resources.work_queue_url) == 0
    assert "dst-bucket" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_existing_destination_bucket_is_reused(s3: Any, store: JobStore, make_runner: Any) -> None:
    fill(s3, "src-bucket", {"a": b"1"})
    fill(s3, "dst-bucket", {"keep": b"me"})
    assert make_runner().run(job_message("job-1")) == RunEnd.LISTED
    assert s3.get_object(Bucket="dst-bucket", Key="keep")["Body"].read() == b"me"
    assert store.get_job("job-1").listing.complete  # type: ignore[union-attr]


def receive_one(sqs: Any, queue_url: str, body: str) -> Any:
    sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    (message,) = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=1, MessageSystemAttributeNames=["SenderId"]
    )["Messages"]
    return message


@pytest.mark.parametrize(
    ("body", "reason_start", "reason_part"),
    [
        ("this is not json", "not JSON", ""),
        (
            json.dumps({"mode": "copy", "source": {"bucket": "src-bucket"}}),
            "invalid job message",
            "destination",
        ),
        (
            json.dumps(
                {"mode": "teleport", "source": {"bucket": "a-b"}, "destination": {"bucket": "c-d"}}
            ),
            "invalid job message",
            "mode",
        ),
    ],
)
def test_unreadable_job_message_goes_to_the_dlq_with_a_reason(
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    body: str,
    reason_start: str,
    reason_part: str,
) -> None:
    # GIVEN a job message that is not a valid job
    coordinator = make_coordinator()
    message = receive_one(sqs, resources.jobs_queue_url, body)
    # WHEN the coordinator handles it
    coordinator.handle(message)
    # THEN it sits in the jobs DLQ, body intact, with the reason as an attribute
    (dead,) = receive_all(sqs, resources.jobs_dlq_url, MessageAttributeNames=["All"])
    assert dead["Body"] == body
    reason = dead["MessageAttributes"]["reason"]["StringValue"]
    assert reason.startswith(reason_start)
    assert reason_part in reason
    assert dead["MessageAttributes"]["original_message_id"]["StringValue"] == message["MessageId"]
    # AND the jobs queue is empty and no job was recorded
    assert depth(sqs, resources.jobs_queue_url) == 0
    assert store.list_jobs() == []


def test_valid_job_message_is_run_and_deleted(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a valid job message as a client would send it
    fill(s3, "src-bucket", {"a": b"1", "b": b"2"})
    coordinator = make_coordinator()
    body = job_message("job-1").model_dump_json(exclude_defaults=True)
    message = receive_one(sqs, resources.jobs_queue_url, body)
    # WHEN handled
    coordinator.handle(message)
    # THEN the job is listed, the message deleted, nothing dead-lettered
    assert store.get_job("job-1").listing.complete  # type: ignore[union-attr]
    assert depth(sqs, resources.jobs_queue_url) == 0
    assert depth(sqs, resources.jobs_dlq_url) == 0
    assert depth(sqs, resources.work_queue_url) == 1


def test_serve_once_drains_the_jobs_queue(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN one valid and one invalid message in the jobs queue
    fill(s3, "src-bucket", {"a": b"1"})
    sqs.send_message(
        QueueUrl=resources.jobs_queue_url,
        MessageBody=job_message("job-1").model_dump_json(exclude_defaults=True),
    )
    sqs.send_message(QueueUrl=resources.jobs_queue_url, MessageBody="{}")
    # WHEN the coordinator serves until the queue is empty
    make_coordinator().serve(once=True)
    # THEN the valid job ran, the invalid one was dead-lettered, the queue is empty
    assert [j.job_id for j in store.list_jobs()] == ["job-1"]
    assert depth(sqs, resources.jobs_dlq_url) == 1
    assert depth(sqs, resources.jobs_queue_url) == 0
