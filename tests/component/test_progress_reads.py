"""What a progress run reads: the counters of the jobs it has work for, not of every job kept.

A job's counters are read with its item in one TransactGetItems (17 items, about 34 read
units); a stack keeps finished jobs for their retention, so reading each of them every run
would cost reads for nothing.
"""

from __future__ import annotations

import json
from typing import Any

from moto_helpers import job_record, receive_all

from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState, ListingCheckpoint, Phase, ReportLocation
from s3migrator.resources import Resources

OWNER = "coordinator-a"


def counting_store(aws: Aws, resources: Resources, clock: Any) -> tuple[JobStore, list[str]]:
    """A job store on a client of its own, and the ids of the jobs whose counters it reads
    (one TransactGetItems each), noted by a botocore hook before each request is sent."""
    client = aws.dynamodb()
    read: list[str] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        # The request as it goes out: its JSON body names the job item first.
        job_key = json.loads(params["body"])["TransactItems"][0]["Get"]["Key"]
        read.append(job_key["pk"]["S"].removeprefix("JOB#"))

    client.meta.events.register("before-call.dynamodb.TransactGetItems", note)
    return JobStore(client, resources.table_name, clock=clock), read


def running_job(store: JobStore, job_id: str) -> None:
    """A job its coordinator is still listing: a progress run stores its percent, no more."""
    store.create_job(job_record(job_id))
    store.acquire_lease(job_id, OWNER, lease_s=600)
    store.set_phase(job_id, OWNER, 0, Phase.STARTED, Phase.COPYING)
    checkpoint = ListingCheckpoint(start_after="k", next_seq=1, objects=3, bytes=3)
    store.save_checkpoint(job_id, OWNER, checkpoint, lease_s=600, seq=0)


def finished_job(store: JobStore, job_id: str, state: JobState, *, report: bool = False) -> None:
    record = job_record(job_id)
    if report:
        record.report = ReportLocation(bucket="reports-bucket", prefix="r/")
    store.create_job(record)
    store.finish(job_id, state, 100, epoch=0, report=report)


def test_refresh_reads_the_counters_of_the_running_job_only(
    aws: Aws, sqs: Any, resources: Resources, clock: Any
) -> None:
    # GIVEN three finished jobs, none with a report due, and one running job
    store, read = counting_store(aws, resources, clock)
    finished_job(store, "done-1", JobState.SUCCEEDED)
    finished_job(store, "done-2", JobState.FAILED)
    finished_job(store, "done-3", JobState.COMPLETED_WITH_FAILURES)
    running_job(store, "busy")
    read.clear()
    # WHEN a progress run serves every job
    statuses = refresh(store, sqs, resources)
    # THEN it read the counters of the running job alone, and returns its status alone
    assert read == ["busy"]
    assert [(s.job_id, s.state) for s in statuses] == [("busy", JobState.RUNNING)]


def test_refresh_still_reads_a_finished_job_whose_report_is_due_and_sends_its_report(
    aws: Aws, sqs: Any, resources: Resources, clock: Any
) -> None:
    # GIVEN a finished job whose completion report is due, and a finished job without one
    store, read = counting_store(aws, resources, clock)
    finished_job(store, "no-report", JobState.SUCCEEDED)
    finished_job(store, "reported", JobState.COMPLETED_WITH_FAILURES, report=True)
    read.clear()
    # WHEN a progress run serves every job
    refresh(store, sqs, resources)
    # THEN it read the job whose report is due, and only it
    assert read == ["reported"]
    # AND asked a coordinator for that report, once
    messages = receive_all(sqs, resources.jobs_queue_url)
    assert [json.loads(m["Body"]) for m in messages] == [{"report": "reported"}]
    # AND the report is not due again until the grace has passed, so a run now reads nothing
    read.clear()
    refresh(store, sqs, resources)
    assert read == []
