"""Who may start a job and which accounts it may touch: the coordinator's own checks.

Moto gives every SQS message one SenderId whoever sends it, so a message's sender is set in
moto's queue after sending (``send_as``), as SQS would set it for that principal.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.sqs.models import DEFAULT_SENDER_ID, sqs_backends
from moto_helpers import depth, fill, job_message, receive_all, resume_falls_due

from coordinator.jobs import RunEnd
from coordinator.service import Coordinator
from progress.refresh import refresh
from progress.status import statuses
from s3migrator.aws import Aws
from s3migrator.cli.local.server import LOCAL_SUBMITTER
from s3migrator.errors import TransientError
from s3migrator.jobstore import JobStore
from s3migrator.models import CopySpec, JobState, Location, Overwrite
from s3migrator.resources import Resources
from s3migrator.sessions import RoleSessions
from s3migrator.work import WorkBatch

ACCOUNT = "123456789012"
ALLOWED_ROLE_ID = "AROAALLOWEDSUBMITTER1"


def send_as(sqs: Any, queue_url: str, body: str, sender_id: str) -> str:
    """Send ``body`` and give it ``sender_id`` as its SenderId; returns its MessageId."""
    message_id: str = sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]
    queue = sqs_backends[ACCOUNT]["us-east-1"].get_queue(queue_url.rsplit("/", 1)[1])
    (message,) = [m for m in queue._messages if m.id == message_id]
    message.sender_id = sender_id
    return message_id


def serve(coordinator: Coordinator) -> None:
    coordinator.serve(once=True)


def test_the_embedded_stacks_submitter_is_the_sender_moto_gives_every_message() -> None:
    assert LOCAL_SUBMITTER == DEFAULT_SENDER_ID


def test_a_job_from_an_unlisted_sender_is_refused_and_nothing_is_created(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a stack whose only submitter is one role, and a job sent by another principal
    fill(s3, "src-bucket", {"a": b"1"})
    body = job_message("job-1").model_dump_json(exclude_defaults=True)
    send_as(sqs, resources.jobs_queue_url, body, "AROASOMEONEELSE00001:mallory")
    # WHEN the coordinator serves the jobs queue
    serve(make_coordinator(job_submitters=ALLOWED_ROLE_ID))
    # THEN the message is dead-lettered with the reason, body intact
    (dead,) = receive_all(sqs, resources.jobs_dlq_url, MessageAttributeNames=["All"])
    assert dead["Body"] == body
    reason = dead["MessageAttributes"]["reason"]["StringValue"]
    assert reason == (
        "sender AROASOMEONEELSE00001:mallory is not one of the stack's job submitters"
        " (JobSubmitters, S3MIGRATOR_JOB_SUBMITTERS); nothing was done"
    )
    # AND no job was recorded (not even under its id), no bucket created, nothing queued
    assert store.list_jobs() == []
    assert "dst-bucket" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert depth(sqs, resources.work_queue_url) == 0
    assert depth(sqs, resources.jobs_queue_url) == 0


def test_a_stack_with_no_submitters_refuses_every_job(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a coordinator configured with no job submitters at all
    body = job_message("job-1").model_dump_json(exclude_defaults=True)
    send_as(sqs, resources.jobs_queue_url, body, LOCAL_SUBMITTER)
    # WHEN it serves the queue
    serve(make_coordinator(job_submitters=""))
    # THEN the job is refused, saying why, and nothing is recorded
    (dead,) = receive_all(sqs, resources.jobs_dlq_url, MessageAttributeNames=["All"])
    assert dead["MessageAttributes"]["reason"]["StringValue"].startswith(
        "no job submitters are configured"
    )
    assert store.list_jobs() == []


def test_a_submitter_named_by_its_role_arn_starts_jobs_and_is_recorded_as_their_sender(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a submitter role, named in the stack's list by its ARN
    iam = aws.session.client("iam")
    trust = {"Version": "2012-10-17", "Statement": []}
    role = iam.create_role(RoleName="submitter", AssumeRolePolicyDocument=json.dumps(trust))
    role_id, arn = role["Role"]["RoleId"], role["Role"]["Arn"]
    fill(s3, "src-bucket", {"a": b"1"})
    body = job_message("job-1").model_dump_json(exclude_defaults=True)
    send_as(sqs, resources.jobs_queue_url, body, f"{role_id}:alice")
    # WHEN the coordinator serves the queue
    serve(make_coordinator(job_submitters=arn))
    # THEN the job ran: recorded with its sender, listed, nothing dead-lettered
    record = store.get_job("job-1")
    assert record is not None and record.listing.complete
    assert record.sender == f"{role_id}:alice"
    assert depth(sqs, resources.jobs_dlq_url) == 0
    # AND its status names the sender
    (status,) = statuses(store, sqs, resources, "job-1")
    assert status.sender == f"{role_id}:alice"


@pytest.mark.parametrize(
    ("side", "reason"),
    [
        (
            "destination",
            "destination bucket 'dst-bucket' would be in account 999999999999, which is not"
            f" one of the accounts this stack may touch ({ACCOUNT}; the stack's AllowedAccounts)",
        ),
        (
            "source",
            "source bucket 'src-bucket' would be in account 999999999999, which is not"
            f" one of the accounts this stack may touch ({ACCOUNT}; the stack's AllowedAccounts)",
        ),
    ],
)
def test_a_job_naming_an_account_outside_the_allowed_ones_fails_and_touches_nothing(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    side: str,
    reason: str,
) -> None:
    # GIVEN a job from a listed sender whose one side is in an account the stack may not touch
    fill(s3, "src-bucket", {"a": b"1"})
    job = json.loads(job_message("job-1").model_dump_json(exclude_defaults=True))
    job[side]["account_id"] = "999999999999"
    send_as(sqs, resources.jobs_queue_url, json.dumps(job), LOCAL_SUBMITTER)
    # WHEN the coordinator serves the queue
    serve(make_coordinator())
    # THEN the job is a failed job with that reason, and nothing was created or queued
    record = store.get_job("job-1")
    assert record is not None
    assert (record.state, record.error) == (JobState.FAILED, reason)
    assert "dst-bucket" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert depth(sqs, resources.work_queue_url) == 0


def test_each_side_is_bound_to_its_owning_account_when_the_job_is_taken(
    sqs: Any, s3: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a job that names no account on either side
    fill(s3, "src-bucket", {"a": b"1"})
    body = job_message("job-1").model_dump_json(exclude_defaults=True)
    send_as(sqs, resources.jobs_queue_url, body, LOCAL_SUBMITTER)
    # WHEN it is taken
    serve(make_coordinator())
    # THEN both sides are recorded as the stack's own account's buckets
    record = store.get_job("job-1")
    assert record is not None and record.spec is not None
    assert (record.spec.source.account_id, record.spec.destination.account_id) == (
        ACCOUNT,
        ACCOUNT,
    )


def test_a_jobs_role_session_is_named_by_the_tool_with_the_stacks_external_id_and_sender(
    aws: Aws,
) -> None:
    # GIVEN role sessions with the stack's external id for one role, every AssumeRole recorded
    role = "arn:aws:iam::222222222222:role/migrator"
    assumed: list[dict[str, Any]] = []
    aws.session.events.register(
        "before-parameter-build.sts.AssumeRole", lambda params, **_: assumed.append(params)
    )
    sessions = RoleSessions(base=aws.session, external_ids={role: "stack-external-id"})
    copy = CopySpec(
        job_id="job-1",
        source=Location(bucket="src-bucket"),
        destination=Location(bucket="dst-bucket", role_arn=role),
        sender="AROAALLOWEDSUBMITTER1:alice",
    )
    # WHEN the job's destination session is used
    sessions.for_location(copy.destination, copy).client("sts").get_caller_identity()
    # THEN the role was assumed under the tool's name for the job, with the stack's external id
    # and the sender as source identity
    assert [
        (p["RoleArn"], p["RoleSessionName"], p.get("ExternalId"), p.get("SourceIdentity"))
        for p in assumed
    ] == [(role, "s3migrator-job-1", "stack-external-id", "AROAALLOWEDSUBMITTER1@alice")]


def test_resumes_sent_before_the_due_one_are_ignored_so_the_backoff_holds(
    s3: Any, store: JobStore, make_runner: Any, clock: Any
) -> None:
    # GIVEN a job whose runs met transient errors four times: its resume is due in 40 s
    fill(s3, "src-bucket", {"a": b"1"})

    def throttled(*args: Any, **kwargs: Any) -> None:
        raise TransientError("SlowDown", "please slow down")

    runner = make_runner(max_resumes=10)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("coordinator.destination.run_checks", throttled)
        assert runner.run(job_message("job-1")) == RunEnd.RETRYING
        for _ in range(3):
            resume_falls_due(store, clock)
            run = runner.take("job-1")
            assert run is not None and runner.work(run) == RunEnd.RETRYING
        first = store.get_job("job-1")
        assert first is not None and first.resume_due is not None and first.resumes == 4
        assert first.resume_due - clock() == pytest.approx(40, abs=1)
        # WHEN resume notes arrive again and again before that time (from anyone)
        taken = [runner.take("job-1") for _ in range(10)]
    # THEN none is taken: the job is still running, with its four failed resumes
    assert taken == [None] * 10
    record = store.get_job("job-1")
    assert record is not None
    assert (record.state, record.resumes, record.resume_due) == (
        JobState.RUNNING,
        4,
        first.resume_due,
    )
    # AND once it is due, a resume takes the job up and it runs
    resume_falls_due(store, clock)
    run = runner.take("job-1")
    assert run is not None
    assert runner.work(run) == RunEnd.LISTED


def receive_with_sender(sqs: Any, queue_url: str) -> Any:
    (message,) = sqs.receive_message(
        QueueUrl=queue_url, MessageSystemAttributeNames=["SenderId"], VisibilityTimeout=30
    )["Messages"]
    return message


def test_an_unlisted_sender_cannot_take_a_job_id_with_a_bad_message(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN an unlisted sender's bad message naming the id a submitter will use tonight
    coordinator = make_coordinator()
    squat = json.dumps({"job_id": "nightly", "mode": "bogus"})
    send_as(sqs, resources.jobs_queue_url, squat, "AROAMALLORY000000001:mallory")
    # WHEN it is handled
    coordinator.handle(receive_with_sender(sqs, resources.jobs_queue_url))
    # THEN it is dead-lettered, naming its sender, and no job is recorded under that id
    (dead,) = receive_all(sqs, resources.jobs_dlq_url, MessageAttributeNames=["All"])
    attributes = dead["MessageAttributes"]
    assert attributes["original_sender"]["StringValue"] == "AROAMALLORY000000001:mallory"
    assert "is not one of the stack's job submitters" in attributes["reason"]["StringValue"]
    assert store.get_job("nightly") is None
    # AND the submitter's job under that id runs
    fill(s3, "src-bucket", {"a": b"1"})
    body = job_message("nightly").model_dump_json(exclude_defaults=True)
    send_as(sqs, resources.jobs_queue_url, body, LOCAL_SUBMITTER)
    coordinator.handle(receive_with_sender(sqs, resources.jobs_queue_url))
    record = store.get_job("nightly")
    assert record is not None and record.listing.complete


def test_a_submitter_iam_cannot_name_just_now_is_tried_again_not_refused(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a submitter listed by role ARN, and IAM throttling every lookup for now
    iam = aws.session.client("iam")
    trust = {"Version": "2012-10-17", "Statement": []}
    role = iam.create_role(RoleName="submitter", AssumeRolePolicyDocument=json.dumps(trust))
    throttling = [True]

    def throttle(**_: Any) -> None:
        if throttling[0]:
            raise ClientError(
                {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "GetRole"
            )

    aws.session.events.register("before-call.iam.GetRole", throttle)
    coordinator = make_coordinator(job_submitters=role["Role"]["Arn"])
    fill(s3, "src-bucket", {"a": b"1"})
    body = job_message("job-1").model_dump_json(exclude_defaults=True)
    send_as(sqs, resources.jobs_queue_url, body, f"{role['Role']['RoleId']}:ci")
    message = receive_with_sender(sqs, resources.jobs_queue_url)
    # WHEN its job message is handled
    coordinator.handle(message)
    # THEN it is neither refused nor taken: nothing dead-lettered, nothing recorded
    assert depth(sqs, resources.jobs_dlq_url) == 0
    assert store.get_job("job-1") is None
    # AND once IAM answers, the same message starts the job
    throttling[0] = False
    coordinator.handle(message)
    record = store.get_job("job-1")
    assert record is not None and record.listing.complete


def test_a_submitter_arn_of_another_account_is_not_taken_for_a_local_namesake(
    aws: Aws, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a stack whose submitter is a partner account's role, and a role of the same name here
    iam = aws.session.client("iam")
    trust = {"Version": "2012-10-17", "Statement": []}
    local = iam.create_role(
        RoleName="ci-submitter", Path="/partner/", AssumeRolePolicyDocument=json.dumps(trust)
    )
    coordinator = make_coordinator(
        job_submitters="arn:aws:iam::999999999999:role/partner/ci-submitter"
    )
    # WHEN the local namesake sends a job
    body = job_message("job-1").model_dump_json(exclude_defaults=True)
    send_as(sqs, resources.jobs_queue_url, body, f"{local['Role']['RoleId']}:eve")
    coordinator.handle(receive_with_sender(sqs, resources.jobs_queue_url))
    # THEN it is refused and nothing is recorded
    assert store.get_job("job-1") is None
    assert depth(sqs, resources.jobs_dlq_url) == 1


def test_a_work_message_that_does_not_carry_its_jobs_spec_copies_nothing(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN a job's batch on the work queue, and a copy of it pointed at another bucket, with
    # "always", as someone able to send to the work queue would forge it
    fill(s3, "src-bucket", {"payroll.csv": b"salaries"})
    s3.create_bucket(Bucket="other-team-bucket")
    s3.put_object(Bucket="other-team-bucket", Key="payroll.csv", Body=b"theirs")
    make_runner().run(job_message("job-1"))
    (genuine,) = receive_all(sqs, resources.work_queue_url)
    batch = WorkBatch.model_validate_json(genuine["Body"])
    elsewhere = Location(bucket="other-team-bucket", account_id=ACCOUNT)
    forged = batch.model_copy(
        update={
            "spec": batch.spec.model_copy(
                update={"destination": elsewhere, "overwrite": Overwrite.ALWAYS}
            )
        }
    )
    sqs.send_message(QueueUrl=resources.work_queue_url, MessageBody=forged.model_dump_json())
    # WHEN the copiers meet the forged message first, then the genuine one, and progress runs
    copy_all()
    sqs.change_message_visibility(
        QueueUrl=resources.work_queue_url,
        ReceiptHandle=genuine["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    copy_all()
    (status,) = refresh(store, sqs, resources)
    # THEN the job copied its object where it said, once, and the other bucket is untouched
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.SUCCEEDED,
        1,
        0,
    )
    assert s3.get_object(Bucket="dst-bucket", Key="payroll.csv")["Body"].read() == b"salaries"
    assert s3.get_object(Bucket="other-team-bucket", Key="payroll.csv")["Body"].read() == b"theirs"


def test_a_refused_job_moved_back_from_the_dead_letters_is_refused_again(
    sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a dead letter of mallory's job moved back to the jobs queue by a submitter
    body = job_message("job-1").model_dump_json(exclude_defaults=True)
    mallory = {"DataType": "String", "StringValue": "AROAMALLORY000000001:mallory"}
    sqs.send_message(
        QueueUrl=resources.jobs_queue_url,
        MessageBody=body,
        MessageAttributes={"original_sender": mallory},
    )
    (message,) = sqs.receive_message(
        QueueUrl=resources.jobs_queue_url,
        MessageSystemAttributeNames=["SenderId"],
        MessageAttributeNames=["original_sender"],
    )["Messages"]
    assert message["Attributes"]["SenderId"] == LOCAL_SUBMITTER
    # WHEN the coordinator handles it
    make_coordinator().handle(message)
    # THEN the first sender decides: refused again, and nothing is recorded
    assert store.get_job("job-1") is None
    (dead,) = receive_all(sqs, resources.jobs_dlq_url, MessageAttributeNames=["All"])
    assert dead["MessageAttributes"]["original_sender"]["StringValue"] == mallory["StringValue"]
