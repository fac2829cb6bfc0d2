"""A run's first steps: preflight, then the destination bucket, each step a phase of the job.

``started`` → (``creating_bucket`` → ``bucket_created``) → ``destination_ready``. A bucket is
hardened only once the job has recorded that it created it (``bucket_created``), so a run that
dies while hardening leaves a job the next run hardens, and a bucket someone else made (before
the job, or while a run that meant to create it was down) is never reconfigured. The one gap: a
run that dies between S3 creating the bucket and the job recording it leaves the bucket as S3
makes new buckets (Block Public Access, SSE-S3, and the owner-enforced ownership it is created
with) without the rest; the next run says so in its log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from coordinator.buckets import bucket_exists, create_bucket, foreign, harden
from coordinator.preflight import as_text, inconclusive, passed, run_checks
from s3migrator.aws_errors import translated
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
            if bucket_exists(s3, destination):
                log.warning(
                    "job %s: destination %s appeared while the job meant to create it; it is"
                    " not known to be the job's, so it is left as it is",
                    record.job_id,
                    destination.bucket,
                )
                return self._move(record, token, Phase.DESTINATION_READY)
            self._creates_in_its_account(spec)
            if not create_bucket(s3, destination, destination.region or self.region):
                log.warning(
                    "job %s: destination %s was made by someone else meanwhile; left as it is",
                    record.job_id,
                    destination.bucket,
                )
                return self._move(record, token, Phase.DESTINATION_READY)
            if not self._move(record, token, Phase.BUCKET_CREATED):
                return False
        if record.phase is Phase.BUCKET_CREATED:
            destination = spec.destination
            s3 = self.clients.for_location(destination, spec)
            if foreign(s3, destination):
                log.warning(
                    "job %s: destination %s holds settings the job did not make; left as it is",
                    record.job_id,
                    destination.bucket,
                )
            else:
                plan = record.plan
                harden(s3, destination, versions=plan is not None and plan.versions == "all")
                log.info("job %s: destination %s created", record.job_id, destination.bucket)
            return self._move(record, token, Phase.DESTINATION_READY)
        return True

    def _creates_in_its_account(self, spec: CopySpec) -> None:
        """CreateBucket names no expected owner: the bucket lands in the account of whoever
        creates it, which must be the account the job says owns the destination."""
        destination = spec.destination
        sts: Any = self.clients.sessions.for_location(destination, spec).client(
            "sts", region_name=destination.region or self.region
        )
        with translated():
            account = str(sts.get_caller_identity()["Account"])
        if destination.owner is not None and account != destination.owner:
            raise InvalidJobError(
                f"the destination would be created in account {account}, but the job says"
                f" account {destination.owner} owns it: give the destination a role of that"
                " account (destination.role_arn)"
            )

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
