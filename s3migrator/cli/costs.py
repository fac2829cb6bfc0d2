"""The cost model of a job (pure): the requests it makes by service and action, what they cost
at us-east-1 list prices, and how long N copiers take.

The request counts come from a ``Workload`` (``s3migrator.cli.survey``) and from what the code
does per batch and per job: the coordinator defines ten batches in one DynamoDB transaction
with its listing checkpoint (``jobstore.listing.define_group``) after one look at the work
queue's depth, and sends them in as few SendMessageBatch calls as the size cap allows; a copier
receives each batch, reads its record once (``BatchStore.get``), copies, counts it in one
transaction of its record and a counter shard (``BatchStore.count``), deletes the message, and
extends the visibility of what it holds every third of the visibility timeout. The progress
function runs once a minute. Write and read units assume items under 1 KB and 4 KB (a batch's
record, a counter shard and the job's item are); a transaction costs two units an item.

Example: ``estimate(work, copiers=2).total`` is the dollars the job would cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from s3migrator.cli.survey import Workload

MiB = 1024**2


@dataclass(frozen=True)
class Prices:
    """List prices in dollars, in one place; ``taken``: when they were read."""

    region: str = "us-east-1"
    taken: str = "2026-12-06"
    s3_write_per_1000: float = 0.005  # PUT, COPY, POST, LIST
    s3_read_per_1000: float = 0.0004  # GET, HEAD
    sqs_per_million: float = 0.40  # each 64 KiB of a request's payload is a request
    dynamodb_write_unit_per_million: float = 0.625  # on demand
    dynamodb_read_unit_per_million: float = 0.125
    lambda_per_million: float = 0.20
    lambda_gb_second: float = 0.0000166667
    fargate_vcpu_hour: float = 0.04048  # x86; ARM64 (the template's default) is about 20% less
    fargate_gb_hour: float = 0.004445


US_EAST_1 = Prices()

# What one copier does per second, as assumed until measured (`--rate-objects`, `--rate-bytes`
# override them). Small objects: 20 copies in flight, each CopyObject answered in about 200 ms
# (S3's first-byte latency for small objects is 100-200 ms, and a copy writes before it
# answers); a copier has 32 in flight by default (copy_concurrency), so this errs low, as a
# plan should. Large objects: the default 10 part copies in flight (part_concurrency), each
# UploadPartCopy moving about 20 MiB/s inside S3.
RATE_OBJECTS_PER_S = 100.0
RATE_BYTES_PER_S = 200.0 * MiB
# ListObjectsV2 pages the coordinator takes a second: a page of 1,000 keys in about 200 ms,
# with its packing and the definition of its batches.
LIST_PAGES_PER_S = 5.0

# infra/template.yaml's task sizes (CopierCpu 1024 and CopierMemory 2048 by default).
COPIER_VCPU, COPIER_GB = 1.0, 2.0
COORDINATOR_VCPU, COORDINATOR_GB = 0.5, 1.0
# The progress function: 256 MB, once a minute; each run reads the job's item and its 16
# counter shards in one transaction (34 read units) and the jobs index (1), and the work
# queue's and its dead-letter queue's depths (2 SQS requests).
PROGRESS_EVERY_S = 60
PROGRESS_GB = 0.25
PROGRESS_RUN_S = 1.0  # assumed; billed per millisecond
PROGRESS_READ_UNITS = 35
PROGRESS_SQS_REQUESTS = 2
# The writes a job makes once, whatever its size: its record and id item created together
# (a transaction: 4 units), the lease taken, four phase moves up to copying, the listing's last
# checkpoint, the lease given back and the finish. Its percent is stored as it rises, at most
# once a progress run and at most 94 times (6 to 99).
JOB_WRITE_UNITS = 4 + 1 + 4 + 1 + 1 + 1
PERCENT_STEPS = 94


# SQS bills each 64 KiB of a request's payload as one request: its billed requests may be more
# than its calls.
REQUESTS = "requests"
WRU, RRU = "WRU", "RRU"  # DynamoDB write and read units


class Part(StrEnum):
    FLOOR = "floor"  # what any server-side copy of these objects makes
    OVERHEAD = "overhead"  # what this system adds to coordinate it
    COMPUTE = "compute"  # the tasks and the function that run it


@dataclass(frozen=True)
class Line:
    """One service's action: how many requests, what is billed for them, and its cost."""

    part: Part
    service: str
    action: str
    requests: float  # calls; hours for a task
    billed: float  # in ``unit``
    unit: str
    cost: float


@dataclass(frozen=True)
class Rates:
    """Per copier: objects a second (small objects) and bytes a second (large ones)."""

    objects_per_s: float = RATE_OBJECTS_PER_S
    bytes_per_s: float = RATE_BYTES_PER_S
    list_pages_per_s: float = LIST_PAGES_PER_S


@dataclass(frozen=True)
class Timing:
    listing_s: float  # the coordinator's listing alone
    copier_s: float  # copying, in copier-seconds
    copiers_busy: int  # at most one copier a batch
    seconds: float  # the whole job


@dataclass(frozen=True)
class Estimate:
    copiers: int
    rates: Rates
    timing: Timing
    lines: list[Line] = field(default_factory=list)
    prices: Prices = US_EAST_1

    def cost(self, part: Part | None = None) -> float:
        return sum(line.cost for line in self.lines if part is None or line.part is part)


def copier_seconds(work: Workload, rates: Rates) -> float:
    """The copying as one copier would do it: each size class takes as long as its objects at
    ``objects_per_s`` or its bytes at ``bytes_per_s``, whichever is longer (within a class
    sizes differ by four times at most, so a class is either bound by requests or by bytes)."""
    return sum(
        max(c.objects / rates.objects_per_s, c.bytes / rates.bytes_per_s) for c in work.sizes
    )


def timing(work: Workload, copiers: int, rates: Rates) -> Timing:
    """How long the job takes: the copying shared by the copiers that have a batch to work on,
    but never shorter than the listing nor than its largest object, whose parts one copier
    copies."""
    listing_s = work.pages / rates.list_pages_per_s
    copier_s = copier_seconds(work, rates)
    busy = max(1, min(copiers, work.batches))
    seconds = max(listing_s, copier_s / busy, work.largest / rates.bytes_per_s)
    return Timing(listing_s=listing_s, copier_s=copier_s, copiers_busy=busy, seconds=seconds)


def estimate(
    work: Workload,
    *,
    copiers: int,
    rates: Rates | None = None,
    visibility_s: int = 30,
    prices: Prices = US_EAST_1,
) -> Estimate:
    """Every request and task-hour a job of ``work`` makes, with its cost."""
    rates = rates or Rates()
    when = timing(work, copiers, rates)
    s3_write = prices.s3_write_per_1000 / 1000
    s3_read = prices.s3_read_per_1000 / 1000
    sqs = prices.sqs_per_million / 1e6
    wru = prices.dynamodb_write_unit_per_million / 1e6
    rru = prices.dynamodb_read_unit_per_million / 1e6
    runs = math.ceil(when.seconds / PROGRESS_EVERY_S)
    # A copier extends what it holds in one request every third of the visibility timeout.
    beats = math.ceil(when.copier_s / max(1.0, visibility_s / 3))
    job_writes = JOB_WRITE_UNITS + min(runs, PERCENT_STEPS)
    copier_h = copiers * when.seconds / 3600
    # The coordinator's task is counted for the whole job: an upper bound, since it stops once
    # the listing is done, which is at most max_backlog_batches ahead of the copiers.
    coord_h = when.seconds / 3600
    pages, batches, groups = work.list_pages, work.batches, work.groups
    singles, multipart, parts = work.single_copies, work.multipart_copies, work.parts
    sends, sent, received = work.send_calls, work.send_chunks, work.receive_chunks
    depths = groups + runs * PROGRESS_SQS_REQUESTS  # the coordinator's and the function's
    defined, counted = 2 * (groups + batches), 4 * batches
    progress_rru = runs * PROGRESS_READ_UNITS
    gb_s = runs * PROGRESS_GB * PROGRESS_RUN_S
    invoke, gb_second = prices.lambda_per_million / 1e6, prices.lambda_gb_second
    vcpu_h, gb_h = prices.fargate_vcpu_hour, prices.fargate_gb_hour
    copier_vcpu_h, copier_gb_h = copier_h * COPIER_VCPU, copier_h * COPIER_GB
    coord_vcpu_h = coord_h * COORDINATOR_VCPU
    coord_gb_h = coord_h * COORDINATOR_GB
    floor, overhead, compute = Part.FLOOR, Part.OVERHEAD, Part.COMPUTE
    # part, service, action, requests (hours for a task), billed, unit, price of a unit
    rows: list[tuple[Part, str, str, float, float, str, float]] = [
        (floor, "S3", "ListObjectsV2", pages, pages, REQUESTS, s3_write),
        (floor, "S3", "CopyObject", singles, singles, REQUESTS, s3_write),
        (floor, "S3", "CreateMultipartUpload", multipart, multipart, REQUESTS, s3_write),
        (floor, "S3", "UploadPartCopy", parts, parts, REQUESTS, s3_write),
        (floor, "S3", "CompleteMultipartUpload", multipart, multipart, REQUESTS, s3_write),
        (overhead, "S3", "HeadObject (multipart source)", multipart, multipart, REQUESTS, s3_read),
        (overhead, "SQS", "SendMessageBatch", sends, sent, REQUESTS, sqs),
        (overhead, "SQS", "ReceiveMessage", batches, received, REQUESTS, sqs),
        (overhead, "SQS", "DeleteMessage", batches, batches, REQUESTS, sqs),
        (overhead, "SQS", "ChangeMessageVisibilityBatch", beats, beats, REQUESTS, sqs),
        (overhead, "SQS", "GetQueueAttributes", depths, depths, REQUESTS, sqs),
        (overhead, "DynamoDB", "TransactWriteItems (define batches)", groups, defined, WRU, wru),
        (overhead, "DynamoDB", "TransactWriteItems (count a batch)", batches, counted, WRU, wru),
        (overhead, "DynamoDB", "GetItem (a batch's record)", batches, batches, RRU, rru),
        (overhead, "DynamoDB", "job record writes", job_writes, job_writes, WRU, wru),
        (overhead, "DynamoDB", "TransactGetItems (progress)", runs, progress_rru, RRU, rru),
        (compute, "Lambda", "Invoke (progress)", runs, runs, REQUESTS, invoke),
        (compute, "Lambda", "duration (progress)", runs, gb_s, "GB-s", gb_second),
        (compute, "Fargate", "copier vCPU", copier_h, copier_vcpu_h, "vCPU-h", vcpu_h),
        (compute, "Fargate", "copier memory", copier_h, copier_gb_h, "GB-h", gb_h),
        (compute, "Fargate", "coordinator vCPU", coord_h, coord_vcpu_h, "vCPU-h", vcpu_h),
        (compute, "Fargate", "coordinator memory", coord_h, coord_gb_h, "GB-h", gb_h),
    ]
    lines = [
        Line(part, service, action, calls, billed, unit, billed * price)
        for part, service, action, calls, billed, unit, price in rows
    ]
    return Estimate(copiers=copiers, rates=rates, timing=when, lines=lines, prices=prices)
