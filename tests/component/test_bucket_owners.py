"""Expected bucket owners against moto: every S3 request of a job names the account that must own
its bucket, so a bucket of that name in any other account neither supplies nor receives data.

Moto is made to answer 403 for a bucket of another account (``patch_moto()``), as S3 does.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

import pytest
from accounts import BOTH_ACCOUNTS, DESTINATION_ACCOUNT, SOURCE_ACCOUNT, Account
from moto_helpers import depth, fill, job_message

from coordinator.jobs import RunEnd
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.cli import main
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState, Location, ReportLocation
from s3migrator.resources import Resources
from s3migrator.settings import MiB

OWN_ACCOUNT = "123456789012"
REPORTS = ReportLocation(bucket="reports-bucket", prefix="r/")
# Requests that take no expected owner: S3 has no such parameter for them.
OWNERLESS = {"CreateBucket", "ListBuckets"}


def record_s3_requests(aws: Aws) -> list[tuple[str, dict[str, Any]]]:
    """(operation, parameters) of every S3 request made by a client built from now on."""
    recorded: list[tuple[str, dict[str, Any]]] = []
    lock = threading.Lock()

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        with lock:
            recorded.append((model.name, dict(params)))

    aws.session.events.register("before-parameter-build.s3", record)
    return recorded


def own_bucket_names(s3: Any) -> set[str]:
    return {b["Name"] for b in s3.list_buckets().get("Buckets", [])}


_ROW = re.compile(r"^(\S.*?)\s{2,}(ok|MISSING|skipped)\s{2,}(.*)$")
_FIX = re.compile(r"^\s+fix:\s+(.*)$")


def preflight_failure(store: JobStore, job_id: str = "job-1") -> dict[str, tuple[str, ...]]:
    """The preflight table of a job that failed at preflight (asserted so): each check's
    (result, detail) and, for a missing one, its fix."""
    job = store.get_job(job_id)
    assert job is not None
    assert job.state is JobState.FAILED
    assert job.error is not None and job.error.startswith("preflight failed:\n"), job.error
    table: dict[str, tuple[str, ...]] = {}
    name = ""
    for line in job.error.splitlines()[1:]:
        row, fix = _ROW.match(line), _FIX.match(line)
        if row is not None:
            name = row[1]
            table[name] = (row[2], row[3])
        else:
            assert fix is not None, line
            table[name] += (fix[1],)
    return table


def missing(table: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    return {name: row for name, row in table.items() if row[0] == "MISSING"}


def test_every_s3_request_of_a_whole_job_names_the_stacks_account_as_owner(
    aws: Aws,
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    make_coordinator: Any,
    copy_all: Any,
) -> None:
    # GIVEN a source with a single-part and a 9 MiB (multipart) object, no destination bucket,
    # a report bucket, and every S3 request of clients built from now on recorded
    objects = {"small": b"s" * 100, "large": os.urandom(9 * MiB)}
    fill(s3, "src-bucket", objects)
    s3.create_bucket(Bucket="reports-bucket")
    recorded = record_s3_requests(aws)
    # WHEN the job runs (preflight, bucket creation and hardening, listing), a copier drains it,
    # progress finishes it and a coordinator writes its report
    assert make_runner().run(job_message("job-1", report=REPORTS)) == RunEnd.LISTED
    copy_all()
    refresh(store, sqs, resources)
    make_coordinator().serve(once=True)
    # THEN the job succeeded and its report was written
    job = store.get_job("job-1")
    assert job is not None
    assert (job.state, job.report_url) == (
        JobState.SUCCEEDED,
        "s3://reports-bucket/r/job-1/failures.csv",
    )
    # AND the clients built for the job were recorded, every step of it
    operations = {name for name, _ in recorded}
    assert operations >= {
        "ListObjectsV2",
        "HeadBucket",
        "CreateBucket",
        "PutPublicAccessBlock",
        "PutBucketOwnershipControls",
        "PutBucketEncryption",
        "PutBucketPolicy",
        "PutBucketLifecycleConfiguration",
        "GetObject",
        "CopyObject",
        "HeadObject",
        "CreateMultipartUpload",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "PutObject",
    }, sorted(operations)
    # AND every request that can name an owner named the stack's account
    unowned = [
        (name, params.get("Bucket"))
        for name, params in recorded
        if name not in OWNERLESS and params.get("ExpectedBucketOwner") != OWN_ACCOUNT
    ]
    assert unowned == []
    # AND every copy named it as the source's owner too
    copies = [params for name, params in recorded if name in ("CopyObject", "UploadPartCopy")]
    assert len(copies) == 3  # one CopyObject, two parts
    assert [params.get("ExpectedSourceBucketOwner") for params in copies] == [OWN_ACCOUNT] * 3


def test_a_source_bucket_of_another_account_fails_the_job_at_preflight(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN src-bucket owned by another account, which the stack's credentials can reach
    other = Account.enter(aws.session, SOURCE_ACCOUNT)
    fill(other.client("s3"), "src-bucket", {"a": b"1"})
    assert s3.list_objects_v2(Bucket="src-bucket")["KeyCount"] == 1
    # WHEN a job with no role and no account names it as its source
    end = make_runner().run(job_message("job-1"))
    # THEN the job failed at preflight, saying the bucket is not the stack account's
    assert end == RunEnd.FAILED
    assert missing(preflight_failure(store)) == {
        "list source": (
            "MISSING",
            "AccessDenied: Access Denied",
            "allow s3:ListBucket on arn:aws:s3:::src-bucket to the task's own role, or the"
            " bucket is not owned by account 123456789012",
        )
    }
    # AND no destination bucket was created and nothing was queued
    assert "dst-bucket" not in own_bucket_names(s3)
    assert "dst-bucket" not in other.bucket_names()
    assert depth(sqs, resources.work_queue_url) == 0


def test_a_destination_bucket_of_another_account_fails_the_job_and_receives_nothing(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a source in the stack's account, and dst-bucket already owned by another account
    fill(s3, "src-bucket", {"a": b"1", "b": b"22"})
    other = Account.enter(aws.session, DESTINATION_ACCOUNT)
    other_s3 = other.client("s3")
    other_s3.create_bucket(Bucket="dst-bucket")
    # WHEN a job with no role and no account names it as its destination
    end = make_runner().run(job_message("job-1"))
    # THEN the job failed at preflight: the bucket name is another account's
    assert end == RunEnd.FAILED
    assert missing(preflight_failure(store)) == {
        "destination bucket": (
            "MISSING",
            "AccessDenied: Access Denied",
            "allow s3:ListBucket and s3:PutObject on arn:aws:s3:::dst-bucket to the task's own"
            " role, or choose a bucket name not owned by another account, or the bucket is not"
            " owned by account 123456789012",
        )
    }
    # AND nothing was queued, and nothing written into that bucket
    assert depth(sqs, resources.work_queue_url) == 0
    assert other_s3.list_objects_v2(Bucket="dst-bucket")["KeyCount"] == 0


def test_the_owner_check_holds_for_an_account_the_job_names(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a source bucket of the stack's account, and a stack allowed to touch three accounts
    fill(s3, "src-bucket", {"a": b"1"})
    runner = make_runner(allowed_accounts=f"{BOTH_ACCOUNTS},{OWN_ACCOUNT}")
    # WHEN a job says the source is in another of those accounts
    message = job_message("job-1").model_copy(
        update={"source": Location(bucket="src-bucket", account_id=SOURCE_ACCOUNT)}
    )
    end = runner.run(message)
    # THEN it is refused at preflight: the bucket is not owned by the account it names
    assert end == RunEnd.FAILED
    assert missing(preflight_failure(store)) == {
        "list source": (
            "MISSING",
            "AccessDenied: Access Denied",
            "allow s3:ListBucket on arn:aws:s3:::src-bucket to the task's own role, or the"
            " bucket is not owned by account 111111111111",
        )
    }
    # AND nothing was created or queued
    assert "dst-bucket" not in own_bucket_names(s3)
    assert depth(sqs, resources.work_queue_url) == 0


@pytest.fixture
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Room for the table's rows on one line each (rich reads COLUMNS)."""
    monkeypatch.setenv("COLUMNS", "1000")


def test_check_reports_a_source_of_another_account_as_missing(
    aws: Aws, wide_terminal: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN src-bucket owned by another account, which the stack's credentials can reach
    fill(Account.enter(aws.session, SOURCE_ACCOUNT).client("s3"), "src-bucket", {"a": b"1"})
    # WHEN `s3migrator check` runs for it, with no role and no account
    code = main(["check", "--source", "s3://src-bucket/", "--dest", "s3://dst-bucket/"])
    # THEN it exits 1, the source listing MISSING because of the bucket's owner
    out = capsys.readouterr().out
    assert code == 1
    (listing,) = [line for line in out.splitlines() if "list source" in line]
    assert "MISSING" in listing
    assert "or the bucket is not owned by account 123456789012" in listing


def test_a_report_bucket_of_another_account_is_refused_and_named_in_the_jobs_error(
    aws: Aws,
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    make_coordinator: Any,
    copy_all: Any,
) -> None:
    # GIVEN a job whose report bucket is another account's
    fill(s3, "src-bucket", {"a": b"1"})
    other_s3 = Account.enter(aws.session, DESTINATION_ACCOUNT).client("s3")
    other_s3.create_bucket(Bucket="reports-bucket")
    make_runner().run(job_message("job-1", report=REPORTS))
    copy_all()
    # WHEN progress finishes it and a coordinator handles its report message
    refresh(store, sqs, resources)
    make_coordinator().serve(once=True)
    # THEN the copy succeeded, but the report was refused, and the job's error says so
    job = store.get_job("job-1")
    assert job is not None
    assert (job.state, job.counters.objects_copied, job.report_due, job.report_url) == (
        JobState.SUCCEEDED,
        1,
        None,
        None,
    )
    assert job.error == "report not written: AccessDenied: Access Denied"
    # AND nothing was written to that bucket, and no report message is left
    assert other_s3.list_objects_v2(Bucket="reports-bucket")["KeyCount"] == 0
    assert other_s3.list_multipart_uploads(Bucket="reports-bucket").get("Uploads", []) == []
    assert depth(sqs, resources.jobs_queue_url) == 0
