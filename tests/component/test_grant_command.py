"""``s3migrator grant``: who is granted is always the operator's word, and --apply is consented to.

Each test runs ``main`` in-process against moto. The source bucket is in the process's own
account and already has someone else's statement in its policy, which every refusal must leave
exactly as it was. A terminal is a stdin that says it is one and holds what the operator types.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from moto_helpers import fill

from coordinator.source_grant import grant_statements
from s3migrator.cli import main
from s3migrator.jobstore import JobStore
from s3migrator.models import CopySpec, JobRecord, Location, Mode

READER = "arn:aws:iam::222222222222:role/reader"
INTRUDER = "arn:aws:iam::999999999999:role/intruder"
FOREIGN = {
    "Sid": "KeepMe",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::src-bucket/public/*",
}
GRANT = ["grant", "--source", "s3://src-bucket/data/", "--reader-role", READER, "--apply"]
OURS = grant_statements(Location(bucket="src-bucket", prefix="data/"), READER)
REFUSED = (
    "error: --apply changes the bucket policy of s3://src-bucket: run it on a terminal to"
    " confirm, or add --yes"
)


class Terminal(io.StringIO):
    """Standard input that is a terminal, holding the operator's answer."""

    def isatty(self) -> bool:
        return True


def statements(s3: Any) -> list[dict[str, Any]]:
    return list(json.loads(s3.get_bucket_policy(Bucket="src-bucket")["Policy"])["Statement"])


def submitted_job(store: JobStore, destination_role: str) -> None:
    """job-1 as anyone could have sent it: src-bucket/data/ copied as ``destination_role``."""
    now = time.time()
    spec = CopySpec(
        job_id="job-1",
        source=Location(bucket="src-bucket", prefix="data/"),
        destination=Location(bucket="dst-bucket", role_arn=destination_role),
    )
    store.create_job(
        JobRecord(job_id="job-1", mode=Mode.COPY, spec=spec, created_at=now, updated_at=now)
    )


@pytest.fixture
def s3(s3: Any) -> Any:
    """src-bucket with a foreign statement in its policy."""
    fill(s3, "src-bucket", {"data/a.txt": b"alpha"})
    s3.put_bucket_policy(
        Bucket="src-bucket",
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [FOREIGN]}),
    )
    return s3


@pytest.fixture
def piped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard input is a pipe that says yes: still no consent."""
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))


def test_apply_without_a_terminal_or_yes_refuses_and_changes_nothing(
    s3: Any, piped: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN --apply runs from a script (stdin is a pipe) without --yes
    code = main(GRANT)
    # THEN it exits 2 with one line saying how to go on, and the policy is as it was
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [REFUSED]
    assert statements(s3) == [FOREIGN]


def test_yes_applies_without_asking(
    s3: Any, piped: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN --apply --yes runs from a script
    assert main([*GRANT, "--yes"]) == 0
    # THEN our statements are merged beside the foreign one, and no question was asked
    assert statements(s3) == [FOREIGN, *OURS]
    out = capsys.readouterr().out
    assert "Apply?" not in out
    assert f"granted {READER} read access to s3://src-bucket/data/" in out


def test_apply_on_a_terminal_shows_the_statements_and_applies_when_answered_yes(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an operator at a terminal who answers "y"
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    # WHEN --apply runs
    assert main(GRANT) == 0
    # THEN it showed the bucket and the exact statements before asking, then applied them
    out = capsys.readouterr().out
    shown, asked = out.split("Apply? [y/N] ")
    header, _, policy = shown.partition("\n")
    assert "bucket policy of s3://src-bucket" in header
    assert json.loads(policy) == {"Version": "2012-10-17", "Statement": OURS}
    assert f"granted {READER} read access" in asked
    assert statements(s3) == [FOREIGN, *OURS]


@pytest.mark.parametrize("answer", ["", "\n", "n\n", "no\n", "yep\n"])
def test_apply_on_a_terminal_answered_anything_but_yes_changes_nothing(
    s3: Any, answer: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an operator at a terminal who does not answer yes (or closes the input)
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    # WHEN --apply runs THEN it exits 1, says so, and the policy is as it was
    assert main(GRANT) == 1
    assert capsys.readouterr().out.endswith("not applied: the bucket policy is unchanged\n")
    assert statements(s3) == [FOREIGN]


def test_the_reader_role_is_required_even_with_a_job(
    s3: Any, store: JobStore, piped: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a job naming the role it copies as
    submitted_job(store, READER)
    # WHEN grant is given the job but no --reader-role
    with pytest.raises(SystemExit) as exited:
        main(["grant", "--job", "job-1", "--apply", "--yes"])
    # THEN it is a usage error naming the option, and the policy is as it was
    assert exited.value.code == 2
    assert "the following arguments are required: --reader-role" in capsys.readouterr().err
    assert statements(s3) == [FOREIGN]


def test_a_job_naming_another_role_than_the_one_given_is_refused(
    s3: Any, store: JobStore, piped: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a job whose sender named an intruder's role as the copying role
    submitted_job(store, INTRUDER)
    # WHEN the operator grants to the role they expect, from that job
    code = main(["grant", "--job", "job-1", "--reader-role", READER, "--apply", "--yes"])
    # THEN it exits 2 naming both roles, and nobody is granted anything
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: --reader-role: job job-1 copies as {INTRUDER}, not {READER};"
        " check who sent the job before granting either"
    ]
    assert statements(s3) == [FOREIGN]


def test_a_job_naming_the_same_role_grants_its_source(
    s3: Any, store: JobStore, piped: None
) -> None:
    # GIVEN a job that copies src-bucket/data/ as the reader role
    submitted_job(store, READER)
    # WHEN the operator grants from the job, naming the same role
    assert main(["grant", "--job", "job-1", "--reader-role", READER, "--apply", "--yes"]) == 0
    # THEN the job's source is granted to that role
    assert statements(s3) == [FOREIGN, *OURS]


def test_an_applied_grant_matches_a_prefix_with_wildcards_literally(s3: Any, piped: None) -> None:
    # GIVEN a prefix holding IAM's wildcards and the start of a policy variable
    prefix = "logs*/${aws:username}?/"
    # WHEN its grant is applied
    source = f"s3://src-bucket/{prefix}"
    assert main(["grant", "--source", source, "--reader-role", READER, "--apply", "--yes"]) == 0
    # THEN the bucket's policy holds the prefix escaped, with the trailing * the only wildcard
    _, listing, _, reading = statements(s3)
    escaped = "logs${*}/${$}{aws:username}${?}/"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{escaped}*"]}}
    assert reading["Resource"] == f"arn:aws:s3:::src-bucket/{escaped}*"
