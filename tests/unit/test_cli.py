"""The command line: options in either position, the published schema, clear input errors."""

from __future__ import annotations

import json

import pytest

from s3migrator.cli import _parser, main


def test_stack_and_region_are_accepted_before_or_after_the_command() -> None:
    # GIVEN the parser WHEN the common options come after the command, or before it
    after = _parser().parse_args(["deploy", "--stack", "blue", "--region", "eu-west-1"])
    before = _parser().parse_args(["--stack", "green", "status", "--json"])
    # THEN both are understood, and absent ones keep their defaults
    assert (after.stack, after.region, after.command) == ("blue", "eu-west-1", "deploy")
    assert (before.stack, before.region, before.json) == ("green", None, True)


def test_schema_command_prints_the_job_message_schema(capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN the schema is printed
    assert main(["schema"]) == 0
    # THEN it is JSON Schema requiring mode, source and destination
    schema = json.loads(capsys.readouterr().out)
    assert set(schema["required"]) == {"mode", "source", "destination"}
    assert schema["properties"]["mode"]["$ref"].endswith("Mode")


def test_submit_rejects_a_destination_that_is_not_an_s3_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # WHEN a job is submitted with a malformed destination
    code = main(["submit", "--source", "s3://good-bucket", "--dest", "bad-bucket"])
    # THEN nothing is sent and the reason is printed
    assert code == 2
    assert "expected s3://BUCKET" in capsys.readouterr().err


def test_submit_rejects_overlapping_source_and_destination(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["submit", "--source", "s3://one-bucket/a/", "--dest", "s3://one-bucket/a/b/"])
    assert code == 2
    assert "overlap" in capsys.readouterr().err
