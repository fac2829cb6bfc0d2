"""A migration's pure rules and words: how long it waits for the name, what a stop leaves
where, a list of differences in a line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3migrator.models import Phase

if TYPE_CHECKING:
    from coordinator.verify import Mismatch
    from s3migrator.migration_state import MigrationState

MAX_NAME_DELAY_S = 900  # SQS's longest delay
VERSIONED = (
    "{url} keeps versions: its deletion would make noncurrent versions and delete markers the"
    " migration cannot tell from yours, and it carries none of them; send the migration with"
    ' "noncurrent_versions": "drop" to accept losing them; {done}'
)


def name_retry_s(attempts: int, first_s: int = 60) -> int:
    """How long to wait before asking for the name again: doubling from ``first_s`` (the
    migration's poll, a minute by default), at most SQS's 15-minute delay.

    >>> [name_retry_s(n) for n in (1, 2, 3, 4, 5, 6)]
    [60, 120, 240, 480, 900, 900]
    >>> [name_retry_s(n, first_s=1) for n in (1, 2, 3)]
    [1, 2, 4]
    """
    return int(min(MAX_NAME_DELAY_S, max(first_s, 1) * 2 ** min(attempts - 1, 10)))


def where_things_are(phase: Phase, state: MigrationState) -> str:
    """What a migration stopped at ``phase`` leaves where, in words."""
    temporary = state.temporary.url
    if phase in (Phase.STARTED, Phase.TEMPORARY_READY, Phase.COPYING_TO_TEMPORARY):
        return (
            f"the source is untouched; {temporary} holds what copy step {state.first_job} has"
            " copied (it goes on until it ends)"
        )
    if phase is Phase.DELETING_SOURCE:
        return (
            f"every object is in {temporary}, verified; the source keeps what its deletion"
            " had not reached (all of it, if the deletion had not begun)"
        )
    if phase is Phase.WAITING_FOR_NAME:
        return (
            f"the source bucket is deleted, every object is in {temporary}; the name is not"
            " claimed yet"
        )
    if phase in (Phase.DESTINATION_CREATED, Phase.COPYING_BACK):
        return (
            f"the bucket exists under its name, every object is in {temporary}; copy step"
            f" {state.second_job} goes on until it ends"
        )
    return f"the bucket is whole under its name; {temporary} is being removed"


def summary(differences: list[Mismatch]) -> str:
    """A difference list in a line: the first few, and how many in all."""
    shown = ", ".join(f"{d.kind.value} {d.key}" for d in differences[:3])
    return f"{len(differences)} differences, first: {shown}"
