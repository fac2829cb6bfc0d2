"""The status API's paging: the page size a request asks for, and the opaque page token."""

from __future__ import annotations

import base64
import json

import pytest

from progress.status import DEFAULT_PAGE_JOBS, MAX_PAGE_JOBS, page_size
from s3migrator.errors import UsageError
from s3migrator.jobstore.codec import MAX_TOKEN_CHARS, page_start, page_token


def token_of(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_page_size_defaults_to_50_and_takes_1_to_200() -> None:
    assert (DEFAULT_PAGE_JOBS, MAX_PAGE_JOBS) == (50, 200)
    assert [page_size(None), page_size("1"), page_size("200")] == [50, 1, 200]


@pytest.mark.parametrize("limit", ["0", "201", "-1", "1.5", "", " 5", "ten", "\u0665", "1e2"])
def test_page_size_refuses_anything_but_a_whole_number_in_range(limit: str) -> None:
    with pytest.raises(UsageError, match=r"^limit: a whole number from 1 to 200"):
        page_size(limit)


def test_a_page_token_names_the_index_key_it_was_made_from() -> None:
    # GIVEN a job as the jobs index returns it
    item = {"job_id": {"S": "job:1.a-b_c"}, "created_at": {"N": "1732700000.123456"}}
    # WHEN its token is turned back into a key
    key = page_start(page_token(item))
    # THEN it is the job's place in the index: the table's key and the index's
    assert key == {
        "pk": {"S": "JOB#job:1.a-b_c"},
        "sk": {"S": "JOB"},
        "kind": {"S": "job"},
        "created_at": {"N": "1732700000.123456"},
    }
    # AND the token is safe in a URL as it is
    assert set(page_token(item)) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )


@pytest.mark.parametrize(
    "token",
    [
        "",
        "!!!",
        "not-a-token",
        token_of({"created_at": "1", "job_id": "a"}),
        token_of(["1", "a", "extra"]),
        token_of([1, "a"]),
        token_of(["1e9", "a"]),
        token_of(["NaN", "a"]),
        token_of(["1", "a/../b"]),
        token_of(["1", ""]),
        token_of(["1", "a" * MAX_TOKEN_CHARS]),
    ],
)
def test_a_string_that_is_no_page_token_is_a_usage_error(token: str) -> None:
    with pytest.raises(UsageError, match=r"^next: not a page token"):
        page_start(token)
