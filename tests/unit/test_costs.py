"""The plan's cost model: what a listing becomes (batches, messages, parts), the requests a job
makes for it by service and action, their cost at list prices, and the duration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str

from s3migrator.cli.costs import (
    COORDINATOR_GB,
    COORDINATOR_VCPU,
    COPIER_GB,
    COPIER_VCPU,
    PROGRESS_EVERY_S,
    PROGRESS_GB,
    Estimate,
    Part,
    Rates,
    Timing,
    estimate,
)
from s3migrator.cli.survey import (
    SizeClass,
    Workload,
    chunks,
    size_class,
    size_classes,
    survey,
)
from s3migrator.models import CopySpec, Location
from s3migrator.settings import GiB, MiB, Settings

KiB = 1024
TiB = 1024**4
TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
SPEC = CopySpec(
    job_id="0" * 32,
    source=Location(bucket="source-bucket", prefix=""),
    destination=Location(bucket="destination-bucket", prefix=""),
)
ETAG = '"0123456789abcdef0123456789abcdef"'


def entry(key: str, size: int, storage_class: str = "STANDARD", **more: Any) -> dict[str, Any]:
    """A listed object as ListObjectsV2 gives it."""
    return {"Key": key, "Size": size, "ETag": ETAG, "StorageClass": storage_class, **more}


def small(count: int, first: int = 0) -> list[dict[str, Any]]:
    return [entry(f"data/{i:07d}.bin", KiB) for i in range(first, first + count)]


def requests(priced: Estimate) -> dict[str, tuple[float, float]]:
    """Each action's requests and billed units."""
    return {f"{line.service} {line.action}": (line.requests, line.billed) for line in priced.lines}


def million_small_objects() -> Workload:
    """1,000,000 objects of 1 KiB named data/NNNNNNN.bin, as ``survey`` counts them: 1,000
    batches of 1,000 keys (two 64 KiB chunks each), defined two at a time (a group closes at
    2,000 keys) and sent two to a SendMessageBatch: 500 calls of three chunks
    (``test_twenty_thousand_small_objects_make_twenty_batches_sent_two_to_a_call`` counts a
    fiftieth of them with the real packing)."""
    work = Workload(
        listed=1_000_000,
        objects=1_000_000,
        bytes=1_000_000 * KiB,
        largest=KiB,
        single_copies=1_000_000,
        batches=1_000,
        groups=500,
        send_calls=500,
        send_chunks=1_500,
        receive_chunks=2_000,
    )
    work.sizes[size_class(KiB)] = SizeClass(KiB, 4 * KiB, 1_000_000, 1_000_000 * KiB)
    return work


def test_size_classes_run_in_powers_of_four_from_empty_to_a_tebibyte_and_more() -> None:
    # WHEN the classes are made THEN they start at 0 B, then 1 B, 1 KiB, 4 KiB, ... 1 TiB
    classes = size_classes()
    assert [(c.low, c.high) for c in classes[:4]] == [
        (0, 1),
        (1, KiB),
        (KiB, 4 * KiB),
        (4 * KiB, 16 * KiB),
    ]
    assert [(c.low, c.high) for c in classes[-2:]] == [(TiB // 4, TiB), (TiB, None)]
    assert len(classes) == 18
    # AND an object falls in the class whose bounds hold it
    sizes = [0, 1, KiB - 1, KiB, 4 * KiB, TiB - 1, TiB, 50 * TiB]
    assert [size_class(size) for size in sizes] == [0, 1, 1, 2, 3, 16, 17, 17]


def test_sqs_bills_each_64_kib_of_a_payload_as_a_request() -> None:
    assert [chunks(n) for n in (0, 1, 65_536, 65_537, 262_144)] == [1, 1, 1, 2, 4]


def test_twenty_thousand_small_objects_make_twenty_batches_sent_two_to_a_call() -> None:
    # GIVEN 20,000 listed objects of 1 KiB WHEN a job of the default settings is surveyed
    work = survey(small(20_000), SPEC, Settings())
    # THEN the coordinator's packing makes twenty batches of 1,000 keys, defined in ten groups
    # of two (2,000 keys); each group is sent in one SendMessageBatch billed as three 64 KiB
    # chunks, and each batch is received in two chunks
    sizes = work.sizes
    work.sizes = []
    assert work == Workload(
        listed=20_000,
        objects=20_000,
        bytes=20_000 * KiB,
        largest=KiB,
        single_copies=20_000,
        batches=20,
        groups=10,
        send_calls=10,
        send_chunks=30,
        receive_chunks=40,
        sizes=[],
    )
    assert [(c.low, c.objects, c.bytes) for c in sizes if c.objects] == [
        (KiB, 20_000, 20_000 * KiB)
    ]
    assert work.list_pages == 20


def test_a_million_small_objects_cost_five_dollars_of_copies_and_cents_of_overhead() -> None:
    # GIVEN a million objects of 1 KiB WHEN two copiers at the default rates are priced
    priced = estimate(million_small_objects(), copiers=2)
    # THEN a copier's 10,000 s of copying (100 objects/s) is shared by two: 5,000 s, a
    # progress run a minute for 84 minutes, and a visibility extension every 10 s of copying
    assert priced.timing == Timing(
        listing_s=200.0, copier_s=10_000.0, copiers_busy=2, seconds=5_000.0
    )
    assert requests(priced) == {
        "S3 ListObjectsV2": (1_000, 1_000),
        "S3 CopyObject": (1_000_000, 1_000_000),
        "S3 CreateMultipartUpload": (0, 0),
        "S3 UploadPartCopy": (0, 0),
        "S3 CompleteMultipartUpload": (0, 0),
        "S3 HeadObject (multipart source)": (0, 0),
        "SQS SendMessageBatch": (500, 1_500),
        "SQS ReceiveMessage": (1_000, 2_000),
        "SQS DeleteMessage": (1_000, 1_000),
        "SQS ChangeMessageVisibilityBatch": (1_000, 1_000),
        "SQS GetQueueAttributes": (500 + 84 * 2, 500 + 84 * 2),
        "DynamoDB TransactWriteItems (define batches)": (500, 3_000),
        "DynamoDB TransactWriteItems (count a batch)": (1_000, 4_000),
        "DynamoDB GetItem (a batch's record)": (1_000, 1_000),
        "DynamoDB job record writes": (12 + 84, 12 + 84),
        "DynamoDB TransactGetItems (progress)": (84, 84 * 35),
        "Lambda Invoke (progress)": (84, 84),
        "Lambda duration (progress)": (84, 21.0),
        "Fargate copier vCPU": pytest.approx((2 * 5_000 / 3600, 2 * 5_000 / 3600)),
        "Fargate copier memory": pytest.approx((2 * 5_000 / 3600, 4 * 5_000 / 3600)),
        "Fargate coordinator vCPU": pytest.approx((5_000 / 3600, 0.5 * 5_000 / 3600)),
        "Fargate coordinator memory": pytest.approx((5_000 / 3600, 5_000 / 3600)),
    }
    # AND the floor is $5.005 (the README's "Overhead per million small objects": CopyObject
    # $5.00, LIST $0.005), the overhead about $0.0074 (SQS 6,168 billed requests, DynamoDB
    # 7,096 write and 3,940 read units), and the tasks' time about $0.17, which that table
    # leaves out
    assert priced.cost(Part.FLOOR) == pytest.approx(5.005)
    assert priced.cost(Part.OVERHEAD) == pytest.approx(0.0073947)
    compute = (
        84 * 0.20e-6  # invocations
        + 84 * 0.25 * 0.0000166667  # GB-seconds
        + 2 * 5_000 / 3600 * (1 * 0.04048 + 2 * 0.004445)  # two copiers
        + 5_000 / 3600 * (0.5 * 0.04048 + 1 * 0.004445)  # the coordinator
    )
    assert priced.cost(Part.COMPUTE) == pytest.approx(compute)
    assert round(compute, 4) == 0.1718
    assert priced.cost() == pytest.approx(5.005 + 0.0073947 + compute)


def test_the_largest_object_s3_holds_is_copied_in_ten_thousand_parts_by_one_copier() -> None:
    # GIVEN one object of 48.8 TiB (S3's largest: 10,000 parts of at most 5 GiB)
    size = int(48.8 * TiB)
    work = survey([entry("huge.bin", size)], SPEC, Settings())
    # THEN it is one multipart copy of 10,000 parts, in a batch of its own
    assert (work.multipart_copies, work.parts, work.single_copies) == (1, 10_000, 0)
    assert (work.batches, work.largest) == (1, size)
    # WHEN it is priced for eight copiers
    priced = estimate(work, copiers=8)
    # THEN its requests are one HEAD, one create, 10,000 part copies and one complete
    assert {k: v for k, v in requests(priced).items() if k.startswith("S3")} == {
        "S3 ListObjectsV2": (1, 1),
        "S3 CopyObject": (0, 0),
        "S3 CreateMultipartUpload": (1, 1),
        "S3 UploadPartCopy": (10_000, 10_000),
        "S3 CompleteMultipartUpload": (1, 1),
        "S3 HeadObject (multipart source)": (1, 1),
    }
    assert priced.cost(Part.FLOOR) == pytest.approx(10_003 * 0.005 / 1000)
    # AND one copier copies its parts, whatever the other seven: size / 200 MiB/s
    assert priced.timing.copiers_busy == 1
    assert priced.timing.seconds == pytest.approx(size / (200 * MiB))


def test_a_mix_is_timed_by_requests_for_small_objects_and_by_bytes_for_large_ones() -> None:
    # GIVEN 1,000 small objects, ten of 100 MiB, an empty one, an archived one skipped, a
    # restored one copied, and three of 6 GiB (multipart, 256 MiB parts, each in its own batch)
    restored = {"RestoreStatus": {"IsRestoreInProgress": False, "RestoreExpiryDate": "2030"}}
    entries = [
        *small(1_000),
        *[entry(f"media/{i}.mov", 100 * MiB) for i in range(10)],
        entry("media/empty", 0),
        entry("old/frozen", 10, "GLACIER"),
        entry("old/thawed", 10, "GLACIER", **restored),
        *[entry(f"video/{i}.raw", 6 * GiB) for i in range(3)],
    ]
    # WHEN it is surveyed and priced for two copiers
    work = survey(entries, SPEC, Settings())
    priced = estimate(work, copiers=2)
    # THEN the archived object is counted apart and the rest planned as the copier plans it
    assert (work.listed, work.objects, work.archived, work.archived_bytes) == (1_016, 1_015, 1, 10)
    assert (work.single_copies, work.multipart_copies, work.parts) == (1_012, 3, 3 * 24)
    assert work.bytes == 1_000 * KiB + 1_000 * MiB + 10 + 18 * GiB
    assert [(c.low, c.objects) for c in work.sizes if c.objects] == [
        (0, 1),
        (1, 1),
        (KiB, 1_000),
        (64 * MiB, 10),
        (4 * GiB, 3),
    ]
    # AND one batch of the small objects, one of the rest, and one for each large object
    assert (work.batches, work.groups, work.send_calls) == (5, 1, 1)
    # AND each class takes its objects at 100/s or its bytes at 200 MiB/s, whichever is longer:
    # 0.01 s + 0.01 s + 10 s + 5 s + 92.16 s of copier time, shared by two
    assert priced.timing == Timing(
        listing_s=0.4, copier_s=pytest.approx(107.18), copiers_busy=2, seconds=pytest.approx(53.59)
    )
    # AND other rates give other times
    faster = estimate(work, copiers=2, rates=Rates(objects_per_s=1_000, bytes_per_s=1_000 * MiB))
    assert faster.timing.copier_s == pytest.approx(0.001 + 0.001 + 1 + 1 + 18.432)


def test_the_task_sizes_and_the_schedule_priced_are_the_templates() -> None:
    # GIVEN the stack's template
    template, problems = decode_str(TEMPLATE.read_text())
    assert not problems
    resources, parameters = template["Resources"], template["Parameters"]
    # THEN the copier's and the coordinator's sizes, and the progress function's memory and
    # schedule, are the ones the cost model prices
    assert parameters["CopierCpu"]["Default"] / 1024 == COPIER_VCPU
    assert parameters["CopierMemory"]["Default"] / 1024 == COPIER_GB
    coordinator = resources["CoordinatorTask"]["Properties"]
    assert (int(coordinator["Cpu"]) / 1024, int(coordinator["Memory"]) / 1024) == (
        COORDINATOR_VCPU,
        COORDINATOR_GB,
    )
    assert resources["ProgressFunction"]["Properties"]["MemorySize"] / 1024 == PROGRESS_GB
    schedule = resources["ProgressSchedule"]["Properties"]["ScheduleExpression"]
    assert (schedule, PROGRESS_EVERY_S) == ("rate(1 minute)", 60)
