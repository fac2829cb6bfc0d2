"""Every valid key is copied to the identical key; several jobs run at once."""

from __future__ import annotations

import os
import unicodedata

import pytest

from coordinator.verify import verify
from s3migrator.models import Location
from tests.e2e.conftest import Stack
from tests.e2e.helpers import fill, small_objects

pytestmark = pytest.mark.e2e

NFC = unicodedata.normalize("NFC", "café/résumé.txt")
NFD = unicodedata.normalize("NFD", "café/résumé.txt")
KEYS = [
    "with space.txt",
    "plus+sign.txt",
    "percent%sign.txt",
    "question?mark.txt",
    "hash#tag.txt",
    "amp&ersand=1.txt",
    "unicode/日本語/ファイル.txt",
    NFC,
    NFD,
    " leading space.txt",
    "trailing space.txt ",
    "double//slash.txt",
    "folder/",
    "a%2Fb",
    "already%20encoded",
    "tab\tcharacter",
    "control\x01character\x1f",
    "semicolon;colon:comma,quote'\"",
    "brackets[1]{2}<3>",
    "~tilde^caret`backtick|pipe\\backslash",
    "k" * 1024,
    "日" * 341 + "k",  # 1,024 bytes of UTF-8
]


def test_every_valid_key_is_copied_to_the_identical_key(stack: Stack) -> None:
    # GIVEN keys that trip up URL encoding, normalisation and path handling
    assert NFC != NFD
    assert all(len(key.encode()) <= 1024 for key in KEYS)
    assert stack.cli("deploy").returncode == 0
    objects = {key: os.urandom(10 + i) for i, key in enumerate(KEYS)}
    fill(stack, "keys-source", objects)

    # WHEN they are copied by the real processes
    submitted = stack.cli(
        "submit",
        "--source",
        "s3://keys-source",
        "--dest",
        "s3://keys-destination",
        "--job-id",
        "keys",
    )
    assert submitted.returncode == 0, submitted.stderr
    stack.start("coordinator", "coordinator")
    stack.start("copier", "copier")
    stack.start("copier", "copier")
    status = stack.wait_for_state("keys")

    # THEN every key arrived under exactly its own name with its own bytes
    assert status["state"] == "succeeded", stack.dump_logs()
    assert status["objects_copied"] == len(KEYS)
    s3 = stack.client("s3")
    copied = {
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="keys-destination")
        for obj in page.get("Contents", [])
    }
    assert copied == set(KEYS)
    for key, body in objects.items():
        assert s3.get_object(Bucket="keys-destination", Key=key)["Body"].read() == body, key


def test_two_jobs_run_at_once_and_a_new_job_is_accepted_while_the_queue_is_busy(
    stack: Stack,
) -> None:
    # GIVEN two source buckets and one coordinator with two copiers
    assert stack.cli("deploy").returncode == 0
    first, second = small_objects(300, "first/"), small_objects(120, "second/")
    fill(stack, "first-source", first)
    fill(stack, "second-source", second)
    stack.start("coordinator", "coordinator")
    stack.start("copier", "copier")
    stack.start("copier", "copier")

    # WHEN the second job is submitted while the first one's batches fill the work queue
    assert (
        stack.cli(
            "submit",
            "--source",
            "s3://first-source",
            "--dest",
            "s3://first-destination",
            "--job-id",
            "first",
        ).returncode
        == 0
    )
    store = stack.store()
    while (record := store.get_job("first")) is None or record.listing.objects == 0:
        pass
    assert (
        stack.cli(
            "submit",
            "--source",
            "s3://second-source",
            "--dest",
            "s3://second-destination/copy/",
            "--job-id",
            "second",
        ).returncode
        == 0
    )
    first_status = stack.wait_for_state("first")
    second_status = stack.wait_for_state("second")

    # THEN both succeeded with exact, separate counts and identical destinations
    assert first_status["state"] == second_status["state"] == "succeeded", stack.dump_logs()
    assert first_status["objects_copied"] == first_status["objects_total"] == len(first)
    assert second_status["objects_copied"] == second_status["objects_total"] == len(second)
    s3 = stack.client("s3")
    assert verify(s3, Location(bucket="first-source"), Location(bucket="first-destination")).ok
    assert verify(
        s3, Location(bucket="second-source"), Location(bucket="second-destination", prefix="copy/")
    ).ok
