"""Sync end to end: a second run of an unchanged bucket copies nothing, counted at the server;
a dry run changes nothing; a run after changes copies and deletes exactly what changed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.helpers import fill, small_objects
from tests.e2e.recorder import recorded, s3_copies, writes

pytestmark = pytest.mark.e2e

SOURCE, DESTINATION = "s3://sync-source", "s3://sync-destination"


def sync(stack: Stack, job_id: str, *extra: str) -> dict[str, Any]:
    sent = stack.cli(
        "submit", "--source", SOURCE, "--dest", DESTINATION, "--sync", "--job-id", job_id, *extra
    )
    assert sent.returncode == 0, sent.stderr
    status = stack.wait_for_state(job_id)
    assert status["state"] == "succeeded", stack.dump_logs()
    assert status["percent"] == 100
    return status


def test_a_second_sync_of_an_unchanged_bucket_makes_no_copy_request(stack: Stack) -> None:
    # GIVEN a 1,000-object bucket synced once by a coordinator and two copiers
    assert stack.cli("deploy").returncode == 0
    objects = small_objects(1000)
    fill(stack, "sync-source", objects)
    stack.start("coordinator", "coordinator")
    stack.start("copier", "copier")
    stack.start("copier", "copier")
    first = sync(stack, "sync-1")
    assert (first["objects_total"], first["objects_copied"]) == (1000, 1000)

    # WHEN it is synced again, unchanged, with every request recorded at the server
    with recorded(stack.endpoint) as requests:
        second = sync(stack, "sync-2")

    # THEN not one CopyObject was made, nothing was enqueued, and all 1,000 count as unchanged
    assert s3_copies(requests) == []
    assert (second["objects_total"], second["objects_copied"]) == (0, 0)
    assert second["skipped"]["unchanged"] == 1000
    assert second["skipped"]["unchanged_bytes"] == sum(map(len, objects.values()))
    s3_writes = [w for w in writes(requests) if "sync-" in w]
    assert s3_writes == []

    # GIVEN two objects changed, one added and one deleted at the source
    s3 = stack.client("s3")
    keys = sorted(objects)
    for key in keys[:2]:
        s3.put_object(Bucket="sync-source", Key=key, Body=b"changed " + key.encode())
    s3.put_object(Bucket="sync-source", Key="obj/new.bin", Body=b"new")
    s3.delete_object(Bucket="sync-source", Key=keys[-1])

    # WHEN a dry run of a sync that deletes extras is asked for
    with recorded(stack.endpoint) as requests:
        dry = stack.cli(
            "submit", "--source", SOURCE, "--dest", DESTINATION, "--sync", "--delete-extra",
            "--dry-run",
        )  # fmt: skip

    # THEN it lists exactly the three copies and the one deletion, and changes nothing
    assert dry.returncode == 0, dry.stderr
    lines = sorted(tuple(line.split("\t")[:2]) for line in dry.stdout.splitlines())
    assert lines == sorted(
        [("copy", keys[0]), ("copy", keys[1]), ("copy", "obj/new.bin"), ("delete", keys[-1])]
    )
    assert "skip (unchanged)" in dry.stderr and "997" in dry.stderr
    assert writes(requests) == []

    # WHEN the sync runs for real
    with recorded(stack.endpoint) as requests:
        third = sync(stack, "sync-3", "--delete-extra")

    # THEN exactly three objects were copied, one deleted, and both sides now match
    assert len(s3_copies(requests)) == 3
    assert (third["objects_total"], third["objects_copied"], third["objects_deleted"]) == (4, 3, 1)
    assert third["skipped"]["unchanged"] == 997
    verified = stack.cli("verify", SOURCE, DESTINATION)
    assert verified.returncode == 0, verified.stdout + verified.stderr
