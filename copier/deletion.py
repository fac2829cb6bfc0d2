"""Deleting a destination object a sync found missing from the source (``delete_extra``).

The delete is conditional on the ETag the sync's listing saw (``If-Match``): an object written
at that key since then is someone's new data, and is kept and reported, never deleted. An
object already gone (an earlier delivery deleted it, its answer lost) counts as deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.errors import ConditionFailedError, NotFoundError, PermanentError

if TYPE_CHECKING:
    from s3migrator.models import CopySpec
    from s3migrator.sessions import S3Clients
    from s3migrator.work import WorkItem

DESTINATION_CHANGED = "DestinationChanged"


def delete_extra(clients: S3Clients, spec: CopySpec, item: WorkItem) -> int:
    """Delete the destination object ``item`` stands for; returns 0 (no byte copied)."""
    key = spec.destination_key(item.key)
    s3 = clients.for_location(spec.destination, spec)
    try:
        s3.delete_object(
            Bucket=spec.destination.bucket,
            Key=key,
            IfMatch=item.etag,
            **spec.destination.expected_owner(),
        )
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        if isinstance(error, NotFoundError):
            return 0
        if isinstance(error, ConditionFailedError):
            raise PermanentError(
                DESTINATION_CHANGED,
                f"{key!r} was not deleted: it changed at the destination after the sync listed"
                " it (it is no longer the object missing from the source)",
                412,
            ) from exc
        raise
    return 0
