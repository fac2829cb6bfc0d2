"""The same-name migration's pure rules: what a migrate message must say, the temporary bucket's
name, the percent path of the seed's table, and the backoff while the name is taken."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from coordinator.migration_rules import name_retry_s
from s3migrator.migration_state import temporary_bucket
from s3migrator.models import JobMessage, Phase
from s3migrator.percent import MIGRATE_TABLE, within

ROLE = "arn:aws:iam::222222222222:role/migrator"


def message(**fields: Any) -> dict[str, Any]:
    return {
        "mode": "migrate",
        "source": {"bucket": "photos"},
        "destination": {"bucket": "photos", "role_arn": ROLE},
        **fields,
    }


def test_a_migration_keeps_the_name_and_moves_it_elsewhere() -> None:
    job = JobMessage.model_validate(message(confirm_delete_source=True))
    assert (job.confirm_delete_source, job.name_wait_h, job.noncurrent_versions) == (
        True,
        72,
        "keep",
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"destination": {"bucket": "other", "role_arn": ROLE}}, "keeps the bucket's name"),
        ({"destination": {"bucket": "photos"}}, "to another account or region"),
        ({"source": {"bucket": "photos", "prefix": "a/"}}, "neither side takes a prefix"),
        ({"sync": True, "overwrite": "if-different"}, "sync and delete_extra do not apply"),
        ({"versions": "all"}, 'versions "all" is not supported by migrations yet'),
        ({"select": {"include": ["*.jpg"]}}, "select does not apply"),
        ({"job_id": "m" * 121}, "at most 120 characters"),
        ({"name_wait_h": 0}, "greater than 0"),
    ],
)
def test_a_migrate_message_that_breaks_a_rule_is_refused_with_the_reason(
    fields: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        JobMessage.model_validate(message(**fields))
    assert reason in str(refused.value)


def test_the_temporary_bucket_is_named_after_the_bucket_and_the_job() -> None:
    name = temporary_bucket("a" * 63, "job-1")
    assert len(name) <= 63 and name.startswith("a" * 38 + "-s3m-tmp-")
    assert temporary_bucket("photos", "job-1") == temporary_bucket("photos", "job-1")
    assert temporary_bucket("photos", "job-1") != temporary_bucket("photos", "job-2")
    # A stem cut at a dot or dash is not left with it (S3 refuses ".-" and "--" next to it)
    assert temporary_bucket("a" * 37 + ".b", "j").startswith("a" * 37 + "-s3m-tmp-")


def test_the_percent_path_walks_the_seeds_table() -> None:
    path = [
        (Phase.STARTED, 0),
        (Phase.TEMPORARY_READY, 0),
        (Phase.COPYING_TO_TEMPORARY, 0),
        (Phase.COPYING_TO_TEMPORARY, 50),
        (Phase.COPYING_TO_TEMPORARY, 100),
        (Phase.DELETING_SOURCE, 0),
        (Phase.WAITING_FOR_NAME, 0),
        (Phase.DESTINATION_CREATED, 0),
        (Phase.COPYING_BACK, 0),
        (Phase.COPYING_BACK, 100),
        (Phase.REMOVING_TEMPORARY, 0),
        (Phase.FINISHED, 0),
    ]
    percents = [within(MIGRATE_TABLE[phase], progress) for phase, progress in path]
    assert percents == [0, 5, 6, 27, 49, 49, 50, 55, 56, 99, 99, 100]


def test_the_name_is_asked_for_again_later_each_time_at_most_every_15_minutes() -> None:
    assert [name_retry_s(n) for n in range(1, 8)] == [60, 120, 240, 480, 900, 900, 900]
    # From a shorter poll it doubles just the same, and a poll of 0 still waits a second.
    assert [name_retry_s(n, first_s=5) for n in (1, 2, 8, 9)] == [5, 10, 640, 900]
    assert name_retry_s(1, first_s=0) == 1
