"""The command line: options in either position, the published schema, clear input errors."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

import s3migrator
from s3migrator.cli import main
from s3migrator.cli.local.server import MotoServer
from s3migrator.cli.parser import build_parser
from s3migrator.errors import ConfigurationError


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
    # (the destination is left out when the source is a job id)
    usage = subcommands(build_parser())["verify"].format_usage()
    assert "SOURCE [DESTINATION]" in usage


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


def test_a_bad_setting_is_named_by_its_variable_on_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("S3MIGRATOR_BATCH_MAX_KEYS", "many")
    assert main(["schema"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid setting: S3MIGRATOR_BATCH_MAX_KEYS: Input should be")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_job_file_and_job_options_together_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = tmp_path / "job.json"
    job.write_text(
        json.dumps({"mode": "copy", "source": {"bucket": "aaa"}, "destination": {"bucket": "bbb"}})
    )
    assert main(["check", str(job), "--dest-role", "arn:aws:iam::123456789012:role/x"]) == 2
    assert "a JOB_FILE says everything about the job; drop --dest-role" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--interval", "-1"], ["--interval", "0"], ["--every", "x"]])
def test_refresh_intervals_must_be_positive(option: list[str]) -> None:
    command = "progress" if option[0] == "--every" else "status"
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, *option])
    assert exited.value.code == 2


def test_the_embedded_stack_without_moto_says_which_extra_installs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN an installation without the `local` extra (moto's server not importable)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "moto" else real(name, *a)
    )
    # WHEN the embedded stack is started THEN it says what to install, before starting anything
    with pytest.raises(ConfigurationError, match=r"pipx install '\.\[local\]'"):
        MotoServer().start()


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"s3migrator {s3migrator.__version__}\n"
