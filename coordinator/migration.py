"""A same-name migration, step by step; each step recorded before the next begins.

``started`` (gates, the source's configuration read, the temporary bucket created) →
``temporary_bucket_ready`` (5) → ``copying_to_temporary`` (6-49: a copy job of its own; at its
end the temporary bucket is verified against the source) → ``deleting_source`` (the verified
objects deleted under the ETags they were verified with, then the bucket) →
``waiting_for_name`` (50: CreateBucket tried again through delayed messages until the job's
deadline) → ``destination_created`` (55: the configuration applied) → ``copying_back`` (56-99:
a second copy job, then verified) → ``removing_temporary`` → ``finished`` (100).

No process sleeps: a step that waits (a copy job running, a name not yet released) records
where it stands and sends the job a resume message delayed up to SQS's 15 minutes. A run that
dies at any line leaves the phase it recorded; the next run does that step again, and every
step can be done twice. The source is deleted only when its message confirmed it, only after the
temporary bucket was verified against a fresh listing of it, and then only what was verified.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coordinator.bucket_config import BucketConfig, apply_config, read_config, rewrite_accounts
from coordinator.bucket_removal import (
    delete_bucket,
    delete_verified,
    deletion_denied,
    empty,
    object_lock_enabled,
    purge_versions,
    region_of,
    remaining_objects,
    versioning_of,
)
from coordinator.buckets import bucket_exists, create_bucket, harden, made_since
from coordinator.jobs import RunEnd
from coordinator.migration_rules import VERSIONED, name_retry_s, summary, where_things_are
from coordinator.migration_run import MigrationRun
from coordinator.verify import Difference, verify
from s3migrator.aws_errors import not_carried_out
from s3migrator.errors import InvalidJobError, OperationError, TransientError, WrongRegionError
from s3migrator.models import JobMessage, JobState, Mode, Phase
from s3migrator.percent import MIGRATE_TABLE, within
from s3migrator.sqs.queues import send_resume

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from s3migrator.migration_state import MigrationState
    from s3migrator.models import CopySpec

log = logging.getLogger(__name__)


@dataclass
class Migration(MigrationRun):
    def advance(self) -> RunEnd:
        """Take the migration as far as it goes now."""
        record = self.record
        spec, state = record.spec, record.migration
        assert spec is not None and state is not None
        steps = {
            Phase.STARTED: self._start,
            Phase.TEMPORARY_READY: lambda s, m: self._launch(s, m, first=True),
            Phase.COPYING_TO_TEMPORARY: lambda s, m: self._follow(s, m, first=True),
            Phase.DELETING_SOURCE: self._delete_source,
            Phase.WAITING_FOR_NAME: self._claim_name,
            Phase.DESTINATION_CREATED: lambda s, m: self._launch(s, m, first=False),
            Phase.COPYING_BACK: lambda s, m: self._follow(s, m, first=False),
            Phase.REMOVING_TEMPORARY: self._remove_temporary,
        }
        while record.phase in steps:
            if record.cancel_requested:
                # Between two steps is a safe point: it stops there, to be resumed.
                return self._fail(f"cancelled: {where_things_are(record.phase, state)}")
            self._hold()
            ended = steps[record.phase](spec, state)
            if ended is not None:
                return ended
        self.runner.store.release_lease(record.job_id, self.run.token)
        return RunEnd.GONE

    # --- the steps: each returns how the run ends, or None once it moved the job on ----------

    def _start(self, spec: CopySpec, state: MigrationState) -> RunEnd | None:
        region = self.runner.region
        source_s3 = self._s3(spec.source)
        # Where the source is, not where its message says: the source's deletion is fenced
        # by that region (``S3Clients.pinned``), so the new bucket must be elsewhere.
        state.source_region = region_of(source_s3, spec.source)
        here = (spec.source.owner, state.source_region)
        if here == (spec.destination.owner, spec.destination.region or region):
            return self._fail(
                f"the destination is the source's own account and region ({here[0]}, {here[1]}):"
                " a migration moves the bucket to another account or region"
            )
        if object_lock_enabled(source_s3, spec.source):
            return self._fail(
                f"{spec.source.url} has Object Lock: its locked objects, and so the bucket, cannot"
                " be deleted before their retention ends, so its name cannot move; copy it to a"
                " bucket of another name (mode copy, object_lock keep); nothing was copied"
            )
        denied = deletion_denied(source_s3, spec.source)
        if denied is not None:
            who = spec.source.role_arn or "the coordinator's task role"
            return self._fail(
                f"{who} may not delete {spec.source.url}'s objects ({denied}): allow it"
                f" s3:DeleteObject, s3:DeleteObjectVersion and s3:DeleteBucket on"
                f" arn:aws:s3:::{spec.source.bucket} and its objects; nothing was copied"
            )
        if versioning_of(source_s3, spec.source) and state.noncurrent_versions == "keep":
            return self._fail(VERSIONED.format(url=spec.source.url, done="nothing was copied"))
        config = read_config(source_s3, spec.source.bucket, expected_owner=spec.source.owner)
        moved, notes = rewrite_accounts(
            config, spec.source.owner or "", spec.destination.owner or spec.source.owner or ""
        )
        state.config, state.notes = moved.model_dump(mode="json"), notes
        temporary = state.temporary
        temporary_s3 = self._s3(temporary)
        exists = bucket_exists(temporary_s3, temporary)
        self._hold()  # a run that lost the job makes no bucket
        if not exists:
            create_bucket(temporary_s3, temporary, temporary.region or region)
        harden(temporary_s3, temporary)
        return self._move(Phase.TEMPORARY_READY, state)

    def _launch(self, spec: CopySpec, state: MigrationState, *, first: bool) -> RunEnd | None:
        """Record the copy step's job (once: its id is the migration's) and set it going."""
        job_id, source, destination = self._step(spec, state, first)
        store = self.runner.store
        message = JobMessage(
            job_id=job_id,
            mode=Mode.COPY,
            source=source,
            destination=destination,
            options=spec.options,
            archived=(self.record.plan.archived if self.record.plan else "skip"),
            restore=spec.restore,
            # A catch-up round copies only what is new or changed since the last.
            sync=first and state.catch_up,
        )
        after = Phase.COPYING_TO_TEMPORARY if first else Phase.COPYING_BACK
        step = self.runner.new_record(job_id, message, self.record.sender)
        if (
            not store.migrations.create_step(self.record.job_id, self.run.token, step)
            and store.get_job(job_id) is None
        ):
            # Not recorded, nor by a run before: not this run's to start (another run has the
            # job), or a cancel came first.
            return self._cancelled(after, state)
        send_resume(self.runner.sqs, self.runner.jobs_queue_url, job_id, delay_s=0)
        return self._move(after, state)

    def _follow(self, spec: CopySpec, state: MigrationState, *, first: bool) -> RunEnd | None:
        """Wait for the copy step's job; once it succeeded, verify its two sides."""
        job_id, source, destination = self._step(spec, state, first)
        step = self.runner.store.get_job(job_id)
        if step is None:  # recorded by a run that died before: record it again
            return self._launch(spec, state, first=first)
        phase = Phase.COPYING_TO_TEMPORARY if first else Phase.COPYING_BACK
        if step.state is JobState.RUNNING:
            self._percent(within(MIGRATE_TABLE[phase], step.percent))
            return self._wait(self.runner.settings.migration_poll_s, "its copy step runs")
        kept = "the source is kept" if first else "the temporary bucket is kept"
        if step.state is not JobState.SUCCEEDED:
            return self._fail(
                f"copy step {job_id} ended {step.state.value}"
                + (f" ({step.error})" if step.error else "")
                + f"; {kept}: `s3migrator report {job_id}` lists its failures; redrive it, then"
                f" `s3migrator resume {self.record.job_id}`"
            )
        if step.listing.tally.archived:
            return self._fail(
                f"{step.listing.tally.archived} archived objects were not copied; {kept}:"
                ' send the migration with "archived": "restore" to restore and copy them'
            )
        # A catch-up round copies what changed into a temporary bucket that may hold more: what
        # an earlier round deleted from the source once it was verified.
        differences = self._differences(source, destination, extras=first and state.catch_up)
        if differences:
            again = Phase.TEMPORARY_READY if first else Phase.COPYING_BACK
            return self._fail(
                f"{destination.url} differs from {source.url}: {differences}; {kept}",
                again_from=again,
                catch_up=first,
            )
        if first and not state.confirm_delete_source:
            return self._fail(
                f"the copy in {state.temporary.url} is verified; the source is deleted only when"
                ' the job says "confirm_delete_source": true: `s3migrator resume'
                f" {self.record.job_id} --yes-delete-source`"
            )
        if not first and state.config and state.config.get("notifications"):
            # Only now: notifications applied before the copy back would fire for every object.
            config = BucketConfig(notifications=state.config["notifications"])
            self._hold()  # a run that lost the job writes no configuration
            notes = apply_config(
                self._s3(spec.destination),
                spec.destination.bucket,
                config,
                expected_owner=spec.destination.owner,
            )
            state.notes += [f"not carried over: {note}" for note in notes]
        return self._move(Phase.DELETING_SOURCE if first else Phase.REMOVING_TEMPORARY, state)

    def _delete_source(self, spec: CopySpec, state: MigrationState) -> RunEnd | None:
        source, s3 = spec.source, self._s3(spec.source)
        try:
            present = bucket_exists(s3, source)
        except InvalidJobError:
            present = False  # the name is someone else's already: ours was deleted
        if present:
            assert state.source_region is not None
            # From here every request to the source is signed for its region and never sent
            # on elsewhere: a bucket of its name in another region (the one this job makes,
            # when a run that stalled here wakes after another run went on) refuses them.
            pinned = self._pinned(source, state.source_region)
            try:
                ended = self._empty_source(spec, state, s3, pinned)
            except WrongRegionError:
                return self._fail(
                    f"{source.url} is not the source any more (its name is a bucket in another"
                    " region now); nothing more was deleted"
                )
            if ended is not None:
                return ended
        state.name_deadline = self.runner.store.now() + state.name_wait_h * 3600
        return self._move(Phase.WAITING_FOR_NAME, state)

    def _empty_source(
        self, spec: CopySpec, state: MigrationState, s3: S3Client, pinned: S3Client
    ) -> RunEnd | None:
        """Delete what was verified, then the source bucket; ``pinned`` does the deleting."""
        source = spec.source
        if region_of(s3, source) != state.source_region:
            return self._fail(f"{source.url} is not the source any more; nothing deleted")
        if versioning_of(s3, source) and state.noncurrent_versions == "keep":
            # Versioning turned on since the start: not one object is deleted.
            return self._fail(VERSIONED.format(url=source.url, done="nothing was deleted"))
        agreed: list[tuple[str, str]] = []
        report = verify(
            pinned,
            source,
            state.temporary,
            destination_s3=self._s3(state.temporary),
            agreed=agreed,
            keep_going=self._keep,
        )
        # Extras: what an earlier run already deleted from the source.
        wrong = [d for d in report.differences if d.kind is not Difference.EXTRA]
        catch_up = f"; `s3migrator resume {self.record.job_id}` copies what changed"
        if wrong:
            return self._fail(
                f"{state.temporary.url} no longer matches {source.url}"
                f" ({summary(wrong)}); the rest of the source is kept{catch_up}",
                again_from=Phase.TEMPORARY_READY,
                catch_up=True,
            )
        if self._cancel_asked():
            # Asked for during the verification: the deletion has not begun in this run.
            return self._fail(f"cancelled: {where_things_are(Phase.DELETING_SOURCE, state)}")
        try:
            deleted = delete_verified(pinned, source, agreed, keep_going=self._keep)
        except InvalidJobError as changed:
            return self._fail(
                f"{changed}{catch_up}", again_from=Phase.TEMPORARY_READY, catch_up=True
            )
        left = remaining_objects(pinned, source)
        if left:
            return self._fail(
                f"{source.url} holds objects written after it was verified ({', '.join(left)}"
                f"); they are kept, and the bucket with them{catch_up}",
                again_from=Phase.TEMPORARY_READY,
                catch_up=True,
            )
        self._hold()
        try:
            purged = purge_versions(pinned, source, keep_going=self._keep)
        except InvalidJobError as refused:  # a policy that denies DeleteObjectVersion, say
            return self._fail(
                f"{refused}; every object is in {state.temporary.url}, verified: allow the"
                f" deletion, then `s3migrator resume {self.record.job_id}`"
            )
        self._hold()
        try:
            delete_bucket(pinned, source)
        except WrongRegionError:
            raise
        except OperationError as refused:  # not empty: written since the purge's listing
            left = remaining_objects(pinned, source)
            return self._fail(
                f"{source.url} could not be deleted ({refused}; it holds {', '.join(left)})"
                f"; what it holds is kept{catch_up}",
                again_from=Phase.TEMPORARY_READY,
                catch_up=True,
            )
        log.info(
            "job %s: deleted %d objects and %d versions, then %s",
            self.record.job_id,
            deleted,
            purged,
            source.url,
        )
        return None

    def _claim_name(self, spec: CopySpec, state: MigrationState) -> RunEnd | None:
        destination, s3 = spec.destination, self._s3(spec.destination)
        region = destination.region or self.runner.region
        if not state.destination_created:
            try:
                # Taken (by anyone, meanwhile) is an InvalidJobError; S3 still busy with the
                # deletion (OperationAborted) a TransientError: either way, tried again later.
                if not bucket_exists(s3, destination):
                    # The attempt is recorded before it is made: a bucket of the name found
                    # later, made since and empty, is this job's (a run that died, or stalled
                    # in its request, made it).
                    state.claim_started_at = self.runner.store.now()
                    if (ended := self._move(Phase.WAITING_FOR_NAME, state)) is not None:
                        return ended
                    create_bucket(s3, destination, region)
                within_s = self.runner.settings.lease_s
                if not made_since(s3, destination, region, state.claim_started_at, within_s):
                    return self._fail(
                        f"{destination.url} exists in the destination's account, and this job"
                        " cannot tell it made it (it was not made when the job set out to make"
                        f" it, or it holds objects): every object is in {state.temporary.url};"
                        f" delete that bucket (or move it away), then `s3migrator resume"
                        f" {self.record.job_id}`"
                    )
            except (InvalidJobError, TransientError) as exc:
                if isinstance(exc, InvalidJobError) or not_carried_out(exc):
                    state.claim_started_at = None  # refused: no bucket of that attempt comes
                return self._name_taken(state, str(exc))
            state.destination_created = True  # recorded before it is configured
            if (ended := self._move(Phase.WAITING_FOR_NAME, state)) is not None:
                return ended
        config = BucketConfig.model_validate(state.config or {}).model_copy(
            update={"notifications": None}
        )
        self._hold()  # a run that lost the job writes no configuration
        notes = apply_config(s3, destination.bucket, config, expected_owner=destination.owner)
        state.notes += [f"not carried over: {note}" for note in notes]
        return self._move(Phase.DESTINATION_CREATED, state)

    def _name_taken(self, state: MigrationState, reason: str) -> RunEnd:
        state.name_attempts += 1
        state.last_name_error = reason
        deadline = state.name_deadline or 0.0
        if self.runner.store.now() >= deadline:
            return self._fail(
                f"the name was not free by the job's deadline after {state.name_attempts}"
                f" attempts ({reason}); every object is in {state.temporary.url}:"
                " resume the job later, or copy it under another name"
            )
        if self._move(Phase.WAITING_FOR_NAME, state) is not None:
            return RunEnd.GONE
        delay = name_retry_s(state.name_attempts, self.runner.settings.migration_poll_s)
        return self._wait(delay, f"the name is not free yet ({reason})")

    def _remove_temporary(self, spec: CopySpec, state: MigrationState) -> RunEnd | None:
        temporary, s3 = state.temporary, self._s3(state.temporary)
        if bucket_exists(s3, temporary):
            try:
                empty(s3, temporary, keep_going=self._keep)
            except InvalidJobError as refused:
                return self._fail(
                    f"the bucket is whole under its name; {refused}: allow the deletion, then"
                    f" `s3migrator resume {self.record.job_id}` removes {temporary.url}"
                )
            self._hold()
            delete_bucket(s3, temporary)
        store, record = self.runner.store, self.record
        error = "; ".join(state.notes) or None
        store.finish(
            record.job_id,
            JobState.SUCCEEDED,
            100,
            error=error,
            epoch=record.epoch,
            leased_by=self.run.token,
        )
        store.release_lease(record.job_id, self.run.token)
        return RunEnd.LISTED
