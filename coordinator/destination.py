"""A run's first steps: preflight, then the destination bucket, each step a phase of the job.

``started`` → (``creating_bucket``) → ``destination_ready``. The phase moves to
``creating_bucket`` before the bucket is created, so a run that dies between creating it and
hardening it leaves a job that the next run hardens; a bucket that existed before the job is
never touched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coordinator.buckets import bucket_exists, create_bucket, harden
from coordinator.preflight import as_text, inconclusive, passed, run_checks
from s3migrator.errors import InvalidJobError, TransientError
from s3migrator.models import CopySpec, JobRecord, Phase

if TYPE_CHECKING:
    from s3migrator.jobstore import JobStore
    from s3migrator.sessions import S3Clients

log = logging.getLogger(__name__)


@dataclass
class Destination:
    """Takes one run of a job from ``started`` to ``destination_ready``."""

    store: JobStore
    clients: S3Clients
    region: str
    lease_s: float

    def prepare(self, record: JobRecord, token: str) -> bool:
        """Move the job to ``destination_ready`` (``record.phase`` follows); False when another
        run moved it meanwhile. InvalidJobError when the job cannot run."""
        spec = record.spec
        assert spec is not None
        if record.phase is Phase.STARTED:
            self._preflight(spec)
            self.store.renew_lease(record.job_id, token, self.lease_s)
            s3 = self.clients.for_location(spec.destination, spec)
            after = (
                Phase.DESTINATION_READY
                if bucket_exists(s3, spec.destination)
                else Phase.CREATING_BUCKET
            )
            if not self._move(record, token, after):
                return False
        if record.phase is Phase.CREATING_BUCKET:
            destination = spec.destination
            s3 = self.clients.for_location(destination, spec)
            if not bucket_exists(s3, destination):
                create_bucket(s3, destination, destination.region or self.region)
            harden(s3, destination)
            log.info("job %s: destination %s created", record.job_id, destination.bucket)
            return self._move(record, token, Phase.DESTINATION_READY)
        return True

    def _preflight(self, spec: CopySpec) -> None:
        checks = run_checks(self.clients, spec)
        if inconclusive(checks):
            raise TransientError("Preflight", "preflight could not finish:\n" + as_text(checks))
        if not passed(checks):
            raise InvalidJobError("preflight failed:\n" + as_text(checks))

    def _move(self, record: JobRecord, token: str, after: Phase) -> bool:
        if not self.store.set_phase(record.job_id, token, record.epoch, record.phase, after):
            return False
        record.phase = after
        return True
