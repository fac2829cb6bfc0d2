"""One huge object copied by two copier processes at once: its parts are part batches any
copier takes, its upload is completed once, and the job counts it once."""

from __future__ import annotations

import os
import subprocess
import threading
from email.message import Message
from typing import Any

import pytest

from tests.e2e.conftest import BIN, Stack
from tests.e2e.faults import FaultProxy
from tests.e2e.recorder import recorded

pytestmark = pytest.mark.e2e

MiB = 1024**2
HUGE = 40 * MiB  # eight 5 MiB parts, one per part batch
GATE_S = 120


def part_copy(method: str, target: str, headers: Message) -> bool:
    return method == "PUT" and "partNumber=" in target and bool(headers.get("x-amz-copy-source"))


class Gate:
    """Holds each copier's first UploadPartCopy until the other copier has sent one too, so
    both copiers are seen copying parts of the object, whichever takes a part batch first (a
    barrier between the two processes' proxies, not a timing)."""

    def __init__(self) -> None:
        self.seen = {"one": threading.Event(), "two": threading.Event()}

    def match_for(self, mine: str, other: str) -> Any:
        def match(method: str, target: str, headers: Message) -> bool:
            if part_copy(method, target, headers):
                self.seen[mine].set()
                self.seen[other].wait(GATE_S)
            return False  # no fault: the request is forwarded as it is

        return match


def start_copier(stack: Stack, name: str, s3_endpoint: str) -> subprocess.Popen[bytes]:
    """A copier process with credentials of its own (so the server's log tells its requests
    apart) whose S3 requests go through ``s3_endpoint``."""
    env = {
        **stack.env,
        "AWS_ACCESS_KEY_ID": f"COPIER{name.upper()}",
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "S3MIGRATOR_MESSAGES_IN_FLIGHT": "1",
    }
    log = (stack.logs / f"copier-{name}.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "s3migrator"), "copier"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    stack.processes.append(process)
    return process


def credential(entry: dict[str, Any]) -> str:
    """The access key a request was signed with (SigV4's Credential=KEY/...)."""
    auth = next((v for k, v in entry["headers"].items() if k.lower() == "authorization"), "")
    return str(auth).split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else ""


def test_one_huge_object_is_copied_by_two_copiers_and_completed_once(stack: Stack) -> None:
    # GIVEN a deployed stack, a source holding one 40 MiB object, and settings that split it
    # into eight part batches of one 5 MiB part
    assert stack.cli("deploy").returncode == 0
    s3 = stack.client("s3")
    s3.create_bucket(Bucket="split-source")
    body = os.urandom(HUGE)
    s3.put_object(Bucket="split-source", Key="huge/object.bin", Body=body)
    stack.env.update(
        {
            "S3MIGRATOR_SOLO_OBJECT_BYTES": str(8 * MiB),
            "S3MIGRATOR_SPLIT_OBJECT_BYTES": str(8 * MiB),
            "S3MIGRATOR_PART_BATCH_BYTES": str(5 * MiB),
        }
    )
    gate = Gate()
    with (
        FaultProxy(stack.endpoint, match=gate.match_for("one", "two")) as one,
        FaultProxy(stack.endpoint, match=gate.match_for("two", "one")) as two,
        recorded(stack.endpoint) as entries,
    ):
        # WHEN the job is submitted and a coordinator and two copiers run it
        submitted = stack.cli(
            "submit",
            "--source",
            "s3://split-source/",
            "--dest",
            "s3://split-destination/",
            "--job-id",
            "split",
        )
        assert submitted.returncode == 0, submitted.stderr
        stack.start("coordinator", "coordinator")
        start_copier(stack, "one", one.endpoint)
        start_copier(stack, "two", two.endpoint)
        status = stack.wait_for_state("split")

    # THEN the job succeeded, the object counted once, at exactly 100%
    assert status["state"] == "succeeded", stack.dump_logs()
    assert status["percent"] == 100
    assert (status["objects_total"], status["objects_copied"], status["objects_failed"]) == (
        1,
        1,
        0,
    )
    assert status["bytes_copied"] == HUGE
    # AND the destination holds the source's bytes
    copied = s3.get_object(Bucket="split-destination", Key="huge/object.bin")["Body"].read()
    assert copied == body
    # AND at the server: both copiers copied parts of it, every part was copied, one upload
    # was completed once, and none is left open
    parts = [e for e in entries if e["method"] == "PUT" and "partNumber=" in e["url"]]
    assert {credential(e) for e in parts} == {"COPIERONE", "COPIERTWO"}
    numbers = {e["url"].split("partNumber=", 1)[1].split("&", 1)[0] for e in parts}
    assert numbers == {str(n) for n in range(1, 9)}
    completions = [
        e for e in entries if e["method"] == "POST" and "/huge/object.bin?uploadId=" in e["url"]
    ]
    assert len(completions) == 1
    assert s3.list_multipart_uploads(Bucket="split-destination").get("Uploads", []) == []
