"""The destination bucket a job creates is hardened; one that existed before is left alone.

A job's phase goes ``started`` → ``creating_bucket`` → ``bucket_created`` →
``destination_ready`` (→ ``copying``)
when it creates its destination, and straight to ``destination_ready`` when the bucket exists. A
run that dies between creating the bucket and hardening it leaves ``creating_bucket``, and the
next run hardens the bucket before anything is copied into it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto_helpers import depth, fill, job_message, resume_falls_due

from coordinator.jobs import RunEnd
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState, Location, Phase
from s3migrator.resources import Resources

OBJECTS = {"a.txt": b"alpha", "dir/b.txt": b"bravo" * 10, "c.txt": b"charlie"}
TLS_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "s3migrator-tls-only",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::dst-bucket", "arn:aws:s3:::dst-bucket/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}
ABORT_UPLOADS = {
    "ID": "s3migrator-abort-incomplete-uploads",
    "Filter": {"Prefix": ""},
    "Status": "Enabled",
    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
}

SSE_S3 = {
    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
    "BucketKeyEnabled": False,
}


def hardened(encryption: dict[str, Any]) -> dict[str, Any]:
    """What ``settings`` reads back from a bucket the job created, with this default rule."""
    return {
        "public access block": {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
        "ownership": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "encryption": {"Rules": [encryption]},
        "policy": TLS_ONLY,
        "lifecycle": [ABORT_UPLOADS],
    }


def settings(s3: Any, bucket: str = "dst-bucket") -> dict[str, Any]:
    """Each setting a created bucket gets, read back; the error code where there is none."""

    def read(call: Any, field: str) -> Any:
        try:
            return call(Bucket=bucket)[field]
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    policy = read(s3.get_bucket_policy, "Policy")
    return {
        "public access block": read(s3.get_public_access_block, "PublicAccessBlockConfiguration"),
        "ownership": read(s3.get_bucket_ownership_controls, "OwnershipControls"),
        "encryption": read(s3.get_bucket_encryption, "ServerSideEncryptionConfiguration"),
        "policy": json.loads(policy) if policy != "NoSuchBucketPolicy" else policy,
        "lifecycle": read(s3.get_bucket_lifecycle_configuration, "Rules"),
    }


def contents(s3: Any, bucket: str = "dst-bucket") -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


@pytest.fixture
def phases(store: JobStore, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Phase, Phase]]:
    """Every phase move the store makes for a run, as (before, after); the store still makes
    it (the recording only watches the test's own store)."""
    moves: list[tuple[Phase, Phase]] = []
    set_phase = store.set_phase

    def recorded(job_id: str, token: str, epoch: int, before: Phase, after: Phase) -> bool:
        moved = set_phase(job_id, token, epoch, before, after)
        if moved:
            moves.append((before, after))
        return moved

    monkeypatch.setattr(store, "set_phase", recorded)
    return moves


def test_a_destination_the_job_creates_gets_every_hardening_setting(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    copy_all: Any,
    phases: list[tuple[Phase, Phase]],
) -> None:
    # GIVEN a source and no destination bucket
    fill(s3, "src-bucket", OBJECTS)
    # WHEN the job runs to the end
    assert make_runner().run(job_message("job-1")) == RunEnd.LISTED
    copy_all()
    (status,) = refresh(store, sqs, resources)
    # THEN the job went through creating the bucket, and copied everything into it
    assert phases == [
        (Phase.STARTED, Phase.CREATING_BUCKET),
        (Phase.CREATING_BUCKET, Phase.BUCKET_CREATED),
        (Phase.BUCKET_CREATED, Phase.DESTINATION_READY),
        (Phase.DESTINATION_READY, Phase.COPYING),
    ]
    assert (status.state, status.objects_copied) == (JobState.SUCCEEDED, len(OBJECTS))
    assert contents(s3) == OBJECTS
    # AND the bucket has every setting: no public access, no ACLs, SSE-S3 by default, TLS
    # only, incomplete uploads dropped after a day
    assert settings(s3) == hardened(SSE_S3)


def test_a_destination_kms_key_becomes_the_created_buckets_default_encryption(
    aws: Aws,
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    copy_all: Any,
) -> None:
    # GIVEN a KMS key in the stack's account and region, and a job naming it for its destination
    key_arn = aws.session.client("kms").create_key(Description="dst")["KeyMetadata"]["Arn"]
    fill(s3, "src-bucket", OBJECTS)
    message = job_message("job-1").model_copy(
        update={"destination": Location(bucket="dst-bucket", kms_key_id=key_arn)}
    )
    # WHEN the job runs to the end
    make_runner().run(message)
    copy_all()
    (status,) = refresh(store, sqs, resources)
    # THEN the created bucket's default encryption is SSE-KMS with that key and a bucket key
    assert status.state is JobState.SUCCEEDED, status.error
    kms_rule = {
        "ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": key_arn,
        },
        "BucketKeyEnabled": True,
    }
    assert settings(s3) == hardened(kms_rule)
    # AND the copies are encrypted with it
    for key in OBJECTS:
        head = s3.head_object(Bucket="dst-bucket", Key=key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key_arn), key


def test_a_destination_that_existed_before_the_job_keeps_its_own_settings(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    copy_all: Any,
    phases: list[tuple[Phase, Phase]],
) -> None:
    # GIVEN a destination bucket of the stack's account, with no policy and a lifecycle rule
    fill(s3, "src-bucket", OBJECTS)
    s3.create_bucket(Bucket="dst-bucket")
    own_rule = {
        "ID": "expire-old",
        "Filter": {"Prefix": "old/"},
        "Status": "Enabled",
        "Expiration": {"Days": 90},
    }
    s3.put_bucket_lifecycle_configuration(
        Bucket="dst-bucket", LifecycleConfiguration={"Rules": [own_rule]}
    )
    before = settings(s3)
    assert before == {
        "public access block": "NoSuchPublicAccessBlockConfiguration",
        "ownership": "OwnershipControlsNotFoundError",
        "encryption": "ServerSideEncryptionConfigurationNotFoundError",
        "policy": "NoSuchBucketPolicy",
        "lifecycle": [own_rule],
    }
    # WHEN a job copies into it
    make_runner().run(job_message("job-1"))
    copy_all()
    (status,) = refresh(store, sqs, resources)
    # THEN the job never went through creating a bucket, and copied everything
    assert phases == [
        (Phase.STARTED, Phase.DESTINATION_READY),
        (Phase.DESTINATION_READY, Phase.COPYING),
    ]
    assert (status.state, status.objects_copied) == (JobState.SUCCEEDED, len(OBJECTS))
    # AND the bucket's settings are its own, exactly as before: nothing was added or changed
    assert settings(s3) == before


def test_a_run_that_dies_before_hardening_leaves_bucket_created_and_the_next_run_hardens_it(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    copy_all: Any,
    phases: list[tuple[Phase, Phase]],
    clock: Any,
) -> None:
    # GIVEN a run of a job that dies once it has created its destination, before hardening it
    fill(s3, "src-bucket", OBJECTS)

    def killed(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("coordinator.destination.harden", killed)
        end = make_runner().run(job_message("job-1"))
    # THEN the job waits in bucket_created for another run, and nothing was listed
    assert end == RunEnd.RETRYING
    job = store.get_job("job-1")
    assert job is not None
    assert (job.state, job.phase, job.last_error, job.listing.objects) == (
        JobState.RUNNING,
        Phase.BUCKET_CREATED,
        "RuntimeError: killed",
        0,
    )
    assert depth(sqs, resources.work_queue_url) == 0
    # AND the bucket exists, owner-enforced from its creation, but not hardened
    assert settings(s3) == {
        "public access block": "NoSuchPublicAccessBlockConfiguration",
        "ownership": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "encryption": "ServerSideEncryptionConfigurationNotFoundError",
        "policy": "NoSuchBucketPolicy",
        "lifecycle": "NoSuchLifecycleConfiguration",
    }
    # WHEN the job's resume is taken up by the next run, the copiers and progress run
    resume_falls_due(store, clock)
    runner = make_runner()
    run = runner.take("job-1")
    assert run is not None
    assert runner.work(run) == RunEnd.LISTED
    copy_all()
    (status,) = refresh(store, sqs, resources)
    # THEN that run hardened the bucket before moving on, and the job copied everything
    assert phases == [
        (Phase.STARTED, Phase.CREATING_BUCKET),
        (Phase.CREATING_BUCKET, Phase.BUCKET_CREATED),
        (Phase.BUCKET_CREATED, Phase.DESTINATION_READY),
        (Phase.DESTINATION_READY, Phase.COPYING),
    ]
    assert settings(s3) == hardened(SSE_S3)
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.SUCCEEDED,
        len(OBJECTS),
        0,
    )
    assert contents(s3) == OBJECTS


def test_a_bucket_that_appears_while_the_job_meant_to_create_it_is_left_as_it_is(
    s3: Any,
    store: JobStore,
    make_runner: Any,
    copy_all: Any,
    clock: Any,
) -> None:
    # GIVEN a run that recorded it would create the destination, then failed to create it
    fill(s3, "src-bucket", OBJECTS)

    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("S3 unreachable")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("coordinator.destination.create_bucket", unreachable)
        assert make_runner().run(job_message("job-1")) == RunEnd.RETRYING
    job = store.get_job("job-1")
    assert job is not None and job.phase is Phase.CREATING_BUCKET
    # AND meanwhile the account's owner made that bucket, with a policy and rules of their own
    s3.create_bucket(Bucket="dst-bucket")
    own_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "partner-read",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::dst-bucket/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket="dst-bucket", Policy=json.dumps(own_policy))
    before = settings(s3)
    # WHEN the job resumes
    resume_falls_due(store, clock)
    runner = make_runner()
    run = runner.take("job-1")
    assert run is not None
    assert runner.work(run) == RunEnd.LISTED
    copy_all()
    # THEN the bucket it did not create keeps every setting it had, and the job copies into it
    assert settings(s3) == before
    assert json.loads(s3.get_bucket_policy(Bucket="dst-bucket")["Policy"]) == own_policy
    assert contents(s3) == OBJECTS


def test_a_destination_is_never_created_in_an_account_other_than_its_owners(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a job whose destination is owned by account 222222222222 but names no role there,
    # so the stack's own credentials (account 123456789012) would create it
    fill(s3, "src-bucket", OBJECTS)
    job = job_message("job-1").model_copy(
        update={"destination": Location(bucket="dst-bucket", account_id="222222222222")}
    )
    # WHEN it runs on a stack that may touch both accounts
    end = make_runner(allowed_accounts="123456789012,222222222222").run(job)
    # THEN it fails saying where the bucket would land, and no bucket was created anywhere
    assert end == RunEnd.FAILED
    record = store.get_job("job-1")
    assert record is not None and record.state is JobState.FAILED
    assert record.error == (
        "the destination would be created in account 123456789012, but the job says account"
        " 222222222222 owns it: give the destination a role of that account"
        " (destination.role_arn)"
    )
    assert "dst-bucket" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert depth(sqs, resources.work_queue_url) == 0


def test_a_bucket_made_between_the_jobs_look_and_its_create_is_left_as_it_is(
    s3: Any, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN the account's owner makes the destination, with a policy of their own, just as the
    # job (which found no bucket) sends CreateBucket
    fill(s3, "src-bucket", OBJECTS)
    runner = make_runner()
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "partner-read",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::dst-bucket/*",
            }
        ],
    }

    def owner_first(**_: Any) -> None:
        s3.create_bucket(Bucket="dst-bucket")
        s3.put_bucket_policy(Bucket="dst-bucket", Policy=json.dumps(policy))

    runner.clients.default.meta.events.register_first("before-call.s3.CreateBucket", owner_first)
    # WHEN the job runs and copies
    assert runner.run(job_message("job-1")) == RunEnd.LISTED
    copy_all()
    # THEN the owner's bucket keeps its own policy and gets none of the job's settings
    assert json.loads(s3.get_bucket_policy(Bucket="dst-bucket")["Policy"]) == policy
    assert settings(s3)["lifecycle"] == "NoSuchLifecycleConfiguration"
    assert contents(s3) == OBJECTS
