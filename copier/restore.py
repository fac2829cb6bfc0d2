"""Archived objects a job restores before it copies them (``"archived": "restore"``).

The first time a copier meets such an object it asks S3 to restore it (RestoreObject, with the
job's days and tier) and the object waits: it goes on in a remainder batch sent with SQS's
longest delay, without using up one of its attempts, and is looked at again (one HeadObject)
until S3 says the restored copy is there. Restores take minutes to hours (up to 48 for Deep
Archive in bulk); no process waits for one, and an object that waits longer than the copier's
``max_restore_waits`` fails with ``RestoreTimeout``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.errors import ConditionFailedError, TransientError
from s3migrator.job_options import RestoreRequest
from s3migrator.selection import ARCHIVED_CLASSES

if TYPE_CHECKING:
    from copier.objects import ObjectCopier
    from s3migrator.models import CopySpec
    from s3migrator.sessions import S3Clients
    from s3migrator.work import WorkItem

RESTORE_IN_PROGRESS = "RestoreInProgress"
RESTORE_TIMEOUT = "RestoreTimeout"


class RestoreWaiting(TransientError):  # noqa: N818 - a wait, not an error
    """The object's restored copy is not there yet: it waits, without using up an attempt."""

    def __init__(self, key: str) -> None:
        super().__init__(RESTORE_IN_PROGRESS, f"{key!r} is being restored; it is copied once it is")


def restored(clients: S3Clients, spec: CopySpec, item: WorkItem) -> None:
    """Return once the archived object ``item`` can be copied; RestoreWaiting until then (its
    restore asked for the first time)."""
    s3 = clients.for_location(spec.destination, spec)
    source = {
        "Bucket": spec.source.bucket,
        "Key": item.key,
        **spec.source.expected_owner(),
        **spec.options.source_payer(),
    }
    try:
        head = s3.head_object(**source, IfMatch=item.etag)
    except PROVIDER_ERRORS as exc:
        if not isinstance(translate(exc), ConditionFailedError):
            raise
        # Written again since the listing: the copy takes the object as it is now, restored
        # first if it is still archived.
        head = s3.head_object(**source)
    status = head.get("Restore")
    if head.get("StorageClass") not in ARCHIVED_CLASSES:
        return
    if status is not None and 'ongoing-request="false"' in status:
        return
    if status is None:
        request = spec.restore or RestoreRequest()
        try:
            s3.restore_object(
                **source,
                RestoreRequest={
                    "Days": request.days,
                    "GlacierJobParameters": {"Tier": request.tier},
                },
            )
        except PROVIDER_ERRORS as exc:
            # Asked already (RestoreAlreadyInProgress, 409: by an earlier delivery, or by
            # someone else): it waits all the same.
            if translate(exc).http_status != 409:
                raise
    raise RestoreWaiting(item.key)


def copy_restored(copier: ObjectCopier, spec: CopySpec, item: WorkItem, again: bool) -> int:
    """Copy an archived object once it is restored (RestoreWaiting until then)."""
    restored(copier.clients, spec, item)
    return copier.copy(spec, item, again=again)
