"""The command line: options in either position, the published schema, clear input errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from s3migrator.cli import main
from s3migrator.cli.parser import build_parser


def test_stack_and_region_are_accepted_before_or_after_the_command() -> None:
    # GIVEN the parser WHEN the common options come after the command, or before it
    after = build_parser().parse_args(["deploy", "--stack", "blue", "--region", "eu-west-1"])
    before = build_parser().parse_args(["--stack", "green", "status", "--json"])
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


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every command and sub-command, by its full name (``local up``)."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{parser.prog.removeprefix('s3migrator').strip()} {name}".strip()
                found[full] = sub
                found.update(subcommands(sub))
    return found


COMMON = {"-h", "--stack", "--profile", "--region", "-v"}


def test_every_command_has_a_description_an_example_and_help_on_each_option() -> None:
    # GIVEN every command of the tree
    commands = subcommands(build_parser())
    assert {"submit", "status", "verify", "outputs", "local", "local up"} <= set(commands)
    missing = []
    for name, parser in commands.items():
        # THEN each says what it does and shows how it is used
        if not parser.description:
            missing.append(f"{name}: description")
        if "examples:\n  s3migrator " not in (parser.epilog or ""):
            missing.append(f"{name}: example")
        # AND each of its own options and arguments has a help text
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not action.help and not COMMON & set(action.option_strings):
                missing.append(f"{name}: {action.dest}")
    assert missing == []


def test_options_with_a_default_show_it_in_their_help() -> None:
    help_text = " ".join(subcommands(build_parser())["status"].format_help().split())
    assert "--interval SECONDS refresh of --watch (default: 2.0)" in help_text
    up = " ".join(subcommands(build_parser())["local up"].format_help().split())
    assert "--port PORT the loopback port to serve on (default: 5000)" in up


def test_verify_names_its_two_arguments_apart() -> None:
    usage = subcommands(build_parser())["verify"].format_usage()
    assert "SOURCE DESTINATION" in usage


def test_a_group_without_its_command_shows_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN `s3migrator local` is run without saying what to do
    code = main(["local"])
    # THEN its commands are listed, not argparse's "required: local_command"
    err = capsys.readouterr().err
    assert code == 2
    assert "up" in err and "run the embedded stack in the foreground" in err
    assert "local_command" not in err


def test_validation_errors_are_one_plain_line(capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN a job names an invalid bucket and a too small part size
    code = main(
        ["submit", "--source", "s3://Bad_Bucket", "--dest", "s3://good-bucket", "--part-size", "5"]
    )
    # THEN the reason is one line naming each field, without pydantic's boilerplate
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("error: invalid job: source.bucket: invalid bucket name 'Bad_Bucket'")
    assert "options.part_size_bytes: Input should be greater than or equal to 5242880" in err
    assert "pydantic" not in err and "validation error for" not in err


def test_check_refuses_what_submit_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN the access of a job whose source and destination overlap is checked
    code = main(["check", "--source", "s3://one-bucket", "--dest", "s3://one-bucket"])
    # THEN it is refused before any AWS call, with submit's own reason
    assert code == 2
    assert "overlap" in capsys.readouterr().err


def test_check_of_an_invalid_job_file_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"mode": "copy", "source": {"bucket": "a"}, "destination": {}}))
    assert main(["check", str(job)]) == 2
    err = capsys.readouterr().err
    assert "source.bucket: invalid bucket name 'a'" in err
    assert "destination.bucket: Field required" in err
    assert main(["check", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
