"""The limits a job message's fields are held to: what a message may name, and what it may not."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from s3migrator.cli.jobs import job_from_args
from s3migrator.cli.parser import build_parser
from s3migrator.errors import InvalidJobMessageError
from s3migrator.models import CopySpec, JobMessage, Overwrite
from s3migrator.sessions import parse_external_ids, session_name

KEY = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::222222222222:role/migrator"


def job(**destination: Any) -> str:

    return json.dumps(
        {
            "mode": "copy",
            "source": {"bucket": "src"},
            "destination": {"bucket": "dst", **destination},
        }
    )


def refusal(body: str) -> str:
    with pytest.raises(InvalidJobMessageError) as caught:
        JobMessage.parse(body)
    return str(caught.value)


def test_overwrite_defaults_to_never_and_takes_the_three_rules() -> None:
    assert JobMessage.parse(job()).overwrite is Overwrite.NEVER
    for rule in ("never", "if-different", "always"):
        parsed = JobMessage.parse(job()[:-1] + f', "overwrite": "{rule}"}}')
        assert parsed.overwrite.value == rule
    assert "overwrite: Input should be 'never', 'if-different' or 'always'" in refusal(
        job()[:-1] + ', "overwrite": "sometimes"}'
    )


@pytest.mark.parametrize(
    ("destination", "reason"),
    [
        (
            {"region": "mars-north-1"},
            "destination.region: 'mars-north-1' is not an AWS region name",
        ),
        ({"prefix": "a\nb/"}, "destination.prefix: prefix must not contain control characters"),
        ({"prefix": "x\x00"}, "destination.prefix: prefix must not contain control characters"),
        ({"prefix": "é" * 512}, "destination.prefix: prefix must be shorter than 1024 bytes"),
        (
            {"kms_key_id": "alias/mine"},
            "destination: kms_key_id must be a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID),"
            " not an alias or a bare key id",
        ),
        (
            {"kms_key_id": KEY, "role_arn": ROLE, "region": "us-east-1"},
            "destination: the KMS key is in eu-west-1, the bucket in us-east-1",
        ),
        (
            {"kms_key_id": KEY, "account_id": "333333333333", "region": "eu-west-1"},
            "destination: the KMS key is in account 222222222222, the bucket in 333333333333",
        ),
        (
            {"role_arn": ROLE, "account_id": "333333333333"},
            f"destination: role {ROLE} is not in account 333333333333",
        ),
        ({"account_id": "12345"}, "destination.account_id: String should match pattern"),
        ({"role_arn": "arn:aws:iam::222222222222:user/u"}, "destination.role_arn: String should"),
        ({"role_arn": ROLE + "x" * 2100}, "destination.role_arn: String should have at most"),
        ({"external_id": "abc"}, "destination.external_id is not part of a job"),
        ({"session_name": "me"}, "destination.session_name is not part of a job"),
    ],
)
def test_a_field_outside_its_limits_is_refused_with_its_reason(
    destination: dict[str, Any], reason: str
) -> None:
    assert reason in refusal(job(**destination))


def test_a_kms_key_in_the_destinations_account_and_region_is_accepted() -> None:
    parsed = JobMessage.parse(job(kms_key_id=KEY, role_arn=ROLE, region="eu-west-1"))
    assert parsed.destination.kms_key_id == KEY
    assert parsed.destination.owner == "222222222222"


def test_a_report_prefix_is_bounded_and_free_of_control_characters() -> None:
    base = job()[:-1]
    assert "report.prefix: a report prefix holds at most 512 characters" in refusal(
        base + ', "report": {"bucket": "reports", "prefix": "' + "p" * 513 + '"}}'
    )
    assert "report.prefix: prefix must not contain control characters" in refusal(
        base + ', "report": {"bucket": "reports", "prefix": "a\\rb"}}'
    )


def test_submit_options_say_the_owning_accounts_and_the_overwrite_rule() -> None:
    # GIVEN submit's options naming each side's account and an overwrite rule
    args = build_parser().parse_args(
        [
            "submit",
            "--source",
            "s3://src/a/",
            "--dest",
            "s3://dst/b/",
            "--source-account",
            "111111111111",
            "--dest-role",
            ROLE,
            "--overwrite",
            "if-different",
        ]
    )
    # WHEN the job message is built from them
    message = job_from_args(args)
    # THEN it carries them as the job message's fields
    assert (message.source.account_id, message.destination.owner) == (
        "111111111111",
        "222222222222",
    )
    assert message.overwrite is Overwrite.IF_DIFFERENT


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[]", 'must be {"role ARN": "external id", ...}'),
        ('{"arn:aws:iam::1:role/r": "x"}', "not a role ARN"),
        (f'{{"{ROLE}": "a"}}', "2 to 1224 characters"),
        (f'{{"{ROLE}": "has space"}}', "2 to 1224 characters"),
        ("{", "is not JSON"),
    ],
)
def test_the_stacks_external_ids_are_checked_when_read(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_external_ids(text)


def test_the_stacks_external_ids_map_roles_to_their_ids() -> None:
    assert parse_external_ids(f'{{"{ROLE}": "Unique-ID:42"}}') == {ROLE: "Unique-ID:42"}


def test_a_record_written_before_external_ids_left_the_message_still_reads() -> None:
    # GIVEN a job's spec as the coordinator recorded it before, with the retired fields null
    old = (
        '{"job_id": "j", "source": {"bucket": "src", "prefix": "", "region": null,'
        ' "role_arn": null, "external_id": null, "session_name": null, "kms_key_id": null},'
        ' "destination": {"bucket": "dst", "prefix": "", "region": null, "role_arn": null,'
        ' "external_id": null, "session_name": null, "kms_key_id": null},'
        ' "options": {"multipart_threshold_bytes": null, "part_size_bytes": null}}'
    )
    # WHEN it is read now
    spec = CopySpec.model_validate_json(old)
    # THEN it is the same job, with the defaults of the fields added since
    assert (spec.source.bucket, spec.destination.bucket, spec.overwrite) == (
        "src",
        "dst",
        Overwrite.NEVER,
    )


def test_a_report_location_inside_the_destination_is_refused() -> None:
    # a report written there could replace an object the job copied
    body = json.dumps(
        {
            "mode": "copy",
            "source": {"bucket": "src"},
            "destination": {"bucket": "dst", "prefix": "data/"},
            "report": {"bucket": "dst", "prefix": "data/reports/"},
        }
    )
    assert "the report location overlaps the destination" in refusal(body)
    apart = json.loads(body)
    apart["report"]["prefix"] = "reports/"
    assert JobMessage.parse(json.dumps(apart)).report is not None


def test_each_job_has_a_session_name_of_its_own_within_stss_limits() -> None:
    names = {job_id: session_name(job_id) for job_id in ("nightly", "team:nightly", "team.nightly")}
    assert names["nightly"] == "s3migrator-nightly"
    assert names["team:nightly"] != names["team.nightly"]
    long = session_name("x" * 128)
    assert len(long) == 64 and long != session_name("x" * 127)
    assert all(re.fullmatch(r"[\w+=,.@-]{2,64}", name) for name in [*names.values(), long])


def test_a_record_that_named_an_external_id_still_reads_without_it() -> None:
    # a job in flight when its external id moved to the stack's RoleExternalIds
    old = '{"job_id": "j", "source": {"bucket": "src", "external_id": "partner-ext-id"},'
    spec = CopySpec.model_validate_json(old + ' "destination": {"bucket": "dst"}}')
    assert (
        spec.source
        == CopySpec(job_id="j", source={"bucket": "src"}, destination={"bucket": "dst"}).source
    )
