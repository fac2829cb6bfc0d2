"""Assumed roles and regions: credentials refreshed before they run short, one client per
(role, region), and whole jobs that cross accounts and regions."""

from __future__ import annotations

import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from accounts import BOTH_ACCOUNTS, DESTINATION_ACCOUNT, SOURCE_ACCOUNT, Account, role_arn
from copier_drain import drain
from freezegun import freeze_time

from coordinator.jobs import RunEnd
from copier.objects import ObjectCopier
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.models import CopySpec, JobMessage, JobState, Location, Mode
from s3migrator.resources import Resources
from s3migrator.sessions import RoleSessions, S3Clients
from s3migrator.settings import MiB
from s3migrator.work import WorkItem

SOURCE_ROLE = role_arn(SOURCE_ACCOUNT, "lister")
DESTINATION_ROLE = role_arn(DESTINATION_ACCOUNT, "migrator")
MARGIN = timedelta(minutes=15)


def _credential(request: Any) -> str:
    """The access key id a signed request carries (Authorization: ... Credential=AKID/...)."""
    header = request.headers["Authorization"]
    text = header.decode() if isinstance(header, bytes) else header
    return str(text.split("Credential=", 1)[1].split("/", 1)[0])


def _amz_date(request: Any) -> datetime:
    value = request.headers["X-Amz-Date"]
    text = value.decode() if isinstance(value, bytes) else value
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


# --- refresh under a fake clock -------------------------------------------------------------


def test_a_multipart_copy_outliving_several_sessions_is_always_signed_with_fresh_credentials(
    aws: Aws,
) -> None:
    with freeze_time("2026-01-01 00:00:00") as frozen:
        # GIVEN one-hour sessions refreshed with 15 minutes to spare, and every AssumeRole
        # answer recorded (the sessions' STS client is created from this base session)
        base = aws.session
        expiries: dict[str, datetime] = {}
        destination_assumes: list[str] = []

        def on_assume(parsed: dict[str, Any], **_: Any) -> None:
            credentials = parsed["Credentials"]
            expiries[credentials["AccessKeyId"]] = credentials["Expiration"]
            if f":{DESTINATION_ACCOUNT}:" in parsed["AssumedRoleUser"]["Arn"]:
                destination_assumes.append(credentials["AccessKeyId"])

        base.events.register("after-call.sts.AssumeRole", on_assume)
        clients = S3Clients(
            RoleSessions(base=base, duration_s=3600, refresh_margin_s=900),
            default=base.client("s3"),
        )
        spec = CopySpec(
            job_id="job-1",
            source=Location(bucket="src-bucket", role_arn=SOURCE_ROLE),
            destination=Location(bucket="dst-bucket", role_arn=DESTINATION_ROLE),
        )
        # AND a 30 MiB + 1 byte source object in the source account (7 parts of up to 5 MiB)
        source_s3 = clients.for_location(spec.source, spec)
        source_s3.create_bucket(Bucket="src-bucket")
        body = os.urandom(30 * MiB + 1)
        etag = source_s3.put_object(Bucket="src-bucket", Key="big", Body=body)["ETag"]
        destination_s3 = clients.for_location(spec.destination, spec)
        destination_s3.create_bucket(Bucket="dst-bucket")

        # AND a clock that moves 24 minutes before each part is signed (so every other part
        # finds its credentials with 12 minutes left: inside the margin, short of expiry),
        # while every request the destination side sends is recorded with its credential and
        # signing time
        sent: list[tuple[str, str, datetime]] = []
        statuses: list[tuple[str, int]] = []

        def before_sign(operation_name: str, **_: Any) -> None:
            if operation_name == "UploadPartCopy":
                frozen.tick(timedelta(minutes=24))

        def before_send(request: Any, event_name: str, **_: Any) -> None:
            sent.append((event_name.rsplit(".", 1)[1], _credential(request), _amz_date(request)))

        def after_call(http_response: Any, model: Any, **_: Any) -> None:
            statuses.append((model.name, http_response.status_code))

        destination_s3.meta.events.register("before-sign.s3", before_sign)
        # First, so it runs before moto's own before-send handler answers the request.
        destination_s3.meta.events.register_first("before-send.s3", before_send)
        destination_s3.meta.events.register("after-call.s3", after_call)
        started = datetime.now(UTC)

        # WHEN the object is copied, one part at a time
        with ThreadPoolExecutor(1) as parts_pool:
            copier = ObjectCopier(
                clients=clients,
                parts_pool=parts_pool,
                multipart_threshold_bytes=8 * MiB,
                part_size_bytes=5 * MiB,
            )
            copied = copier.copy(spec, WorkItem(key="big", size=len(body), etag=etag))

        # THEN the copy took well over two sessions' lifetime of fake time
        assert datetime.now(UTC) - started == timedelta(minutes=7 * 24)
        # AND it is whole and byte-identical
        assert copied == len(body)
        copy = destination_s3.get_object(Bucket="dst-bucket", Key="big")
        assert copy["Body"].read() == body
        # AND the destination role was assumed again each time the margin was reached
        assert len(destination_assumes) >= 4
        # AND the parts were sent once each (no retries), under at least 4 different credentials
        parts = [(key, signed) for operation, key, signed in sent if operation == "UploadPartCopy"]
        assert len(parts) == 7
        assert len({key for key, _ in parts}) >= 4
        # AND every request was signed (at its own fake time) with at least the margin left
        for operation, key, signed in sent:
            assert key in destination_assumes, f"{operation} signed with {key}"
            assert expiries[key] - signed >= MARGIN, (operation, signed, expiries[key])
        # AND no request failed but the HEAD that found the destination key free
        assert [(name, status) for name, status in statuses if status >= 300] == [
            ("HeadObject", 404)
        ]
        assert Counter(name for name, _ in statuses)["UploadPartCopy"] == 7


# --- one client per (role, region) ----------------------------------------------------------


def test_one_client_per_role_and_region_shared_between_threads(aws: Aws) -> None:
    # GIVEN the clients of one process, and every AssumeRole recorded
    base = aws.session
    assumed: list[str] = []
    base.events.register(
        "after-call.sts.AssumeRole",
        lambda parsed, **_: assumed.append(parsed["AssumedRoleUser"]["Arn"]),
    )
    default = base.client("s3")
    clients = S3Clients(RoleSessions(base=base), default=default)
    location = Location(bucket="dst-bucket", role_arn=DESTINATION_ROLE, region="eu-west-1")
    barrier = threading.Barrier(2)

    def client_and_call() -> Any:
        barrier.wait()
        s3 = clients.for_location(location)
        s3.list_buckets()
        return s3

    # WHEN two threads ask for the same location at the same moment and use it
    with ThreadPoolExecutor(2) as pool:
        first, second = (f.result() for f in [pool.submit(client_and_call) for _ in range(2)])

    # THEN they get the same client, in the location's region, on one assumed session
    assert first is second
    assert first.meta.region_name == "eu-west-1"
    assert len(assumed) == 1
    assert assumed[0].startswith(f"arn:aws:sts::{DESTINATION_ACCOUNT}:assumed-role/migrator/")
    # AND another location in the same role and region (other bucket, prefix) shares it
    same = Location(
        bucket="other-bucket", prefix="p/", role_arn=DESTINATION_ROLE, region="eu-west-1"
    )
    assert clients.for_location(same) is first
    # AND another region, or another role, gets a client of its own
    other_region = clients.for_location(location.model_copy(update={"region": "us-west-2"}))
    other_role = clients.for_location(location.model_copy(update={"role_arn": SOURCE_ROLE}))
    assert len({id(first), id(other_region), id(other_role), id(default)}) == 4
    assert other_region.meta.region_name == "us-west-2"
    # AND a session per (role, region): the other region's session acts in the same account
    sessions = clients.sessions
    eu = sessions.for_location(location)
    us = sessions.for_location(location.model_copy(update={"region": "us-west-2"}))
    assert eu is not us
    assert eu is sessions.for_location(same)
    identity = us.client("sts").get_caller_identity()
    assert identity["Account"] == DESTINATION_ACCOUNT


def test_a_location_without_role_uses_the_process_client_only_in_its_default_region(
    aws: Aws,
) -> None:
    base = aws.session
    default = base.client("s3")
    clients = S3Clients(RoleSessions(base=base), default=default)
    # WHEN a location has no role, in the default region (named or not)
    # THEN the process's own client reaches it
    assert clients.for_location(Location(bucket="b-one")) is default
    assert clients.for_location(Location(bucket="b-one", region="us-east-1")) is default
    # AND in another region it gets the process's credentials in that region, once
    elsewhere = clients.for_location(Location(bucket="b-one", region="ap-southeast-2"))
    assert elsewhere is not default
    assert elsewhere.meta.region_name == "ap-southeast-2"
    assert clients.for_location(Location(bucket="b-two", region="ap-southeast-2")) is elsewhere
    assert clients.sessions.for_location(Location(bucket="b-one")) is base
    # AND a role in the default region is not the process's client
    with_role = clients.for_location(Location(bucket="b-one", role_arn=DESTINATION_ROLE))
    assert with_role is not default
    assert with_role.meta.region_name == "us-east-1"


# --- whole jobs across accounts and regions -------------------------------------------------


def _source_in_other_account(aws: Aws, objects: dict[str, bytes]) -> None:
    """src-bucket in the source account, in eu-west-1, holding ``objects``."""
    s3 = Account.enter(aws.session, SOURCE_ACCOUNT, "eu-west-1").client("s3")
    s3.create_bucket(
        Bucket="src-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    for key, body in objects.items():
        s3.put_object(Bucket="src-bucket", Key=key, Body=body)


def _cross_account_job(**destination: Any) -> JobMessage:
    return JobMessage(
        job_id="job-x",
        mode=Mode.COPY,
        source=Location(bucket="src-bucket", region="eu-west-1", role_arn=SOURCE_ROLE),
        destination=Location(
            bucket="dst-bucket", region="us-west-2", role_arn=DESTINATION_ROLE, **destination
        ),
    )


def test_a_job_across_accounts_and_regions_creates_the_destination_in_its_account(
    aws: Aws,
    resources: Resources,
    store: JobStore,
    sqs: Any,
    make_runner: Any,
) -> None:
    # GIVEN a source bucket in another account and region, with small and multipart objects
    objects = {f"small/{i:02d}": f"object {i}".encode() * (i + 1) for i in range(12)}
    objects["large/one"] = os.urandom(9 * MiB + 3)
    objects["empty"] = b""
    _source_in_other_account(aws, objects)
    destination = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2")
    source = Account.enter(aws.session, SOURCE_ACCOUNT, "eu-west-1")
    own = Account(aws.session, {}, aws.region)
    assert "dst-bucket" not in destination.bucket_names()

    # WHEN the coordinator runs the job (source role lists, destination role copies), a
    # copier drains the work queue and progress is refreshed
    outcome = make_runner(allowed_accounts=BOTH_ACCOUNTS).run(_cross_account_job())
    drain(aws, resources, store)
    (status,) = refresh(store, sqs, resources, "job-x")

    # THEN the job succeeded with exact counters
    assert outcome == RunEnd.LISTED
    assert status.state is JobState.SUCCEEDED, status.error
    job = store.get_job("job-x")
    assert job is not None
    assert job.counters.objects_copied == len(objects)
    assert job.counters.bytes_copied == sum(len(b) for b in objects.values())
    assert job.counters.objects_failed == 0
    assert (status.objects_total, status.bytes_total) == (len(objects), job.counters.bytes_copied)
    # AND the destination bucket was created in the destination account only, in its region
    assert "dst-bucket" in destination.bucket_names()
    assert "dst-bucket" not in source.bucket_names()
    assert "dst-bucket" not in own.bucket_names()
    destination_s3 = destination.client("s3")
    location = destination_s3.get_bucket_location(Bucket="dst-bucket")
    assert location["LocationConstraint"] == "us-west-2"
    # AND every object is there, byte-identical, and nothing else
    listed = destination_s3.list_objects_v2(Bucket="dst-bucket")["Contents"]
    assert {o["Key"] for o in listed} == set(objects)
    for key, body in objects.items():
        assert destination_s3.get_object(Bucket="dst-bucket", Key=key)["Body"].read() == body


def test_new_objects_are_encrypted_with_the_destination_accounts_kms_key(
    aws: Aws,
    resources: Resources,
    store: JobStore,
    sqs: Any,
    make_runner: Any,
) -> None:
    # GIVEN a KMS key in the destination account and region, named by its id
    destination = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2")
    key = destination.client("kms").create_key(Description="migrated objects")["KeyMetadata"]
    # AND a single-part and a multipart object in the source account
    objects = {"single": b"s" * 1024, "multi": os.urandom(9 * MiB)}
    _source_in_other_account(aws, objects)

    # WHEN a job naming that key runs to the end
    make_runner(allowed_accounts=BOTH_ACCOUNTS).run(_cross_account_job(kms_key_id=key["Arn"]))
    drain(aws, resources, store)
    (status,) = refresh(store, sqs, resources, "job-x")

    # THEN both copies are SSE-KMS with that key, and intact
    assert status.state is JobState.SUCCEEDED, status.error
    destination_s3 = destination.client("s3")
    for name, body in objects.items():
        head = destination_s3.head_object(Bucket="dst-bucket", Key=name)
        assert head["ServerSideEncryption"] == "aws:kms", name
        assert head["SSEKMSKeyId"].endswith(key["KeyId"]), (name, head["SSEKMSKeyId"])
        assert destination_s3.get_object(Bucket="dst-bucket", Key=name)["Body"].read() == body
