"""The job table's writes that only a same-name migration makes: its steps, a cancel asked for,
and a stopped migration taken up again.

A cancel is an attribute of its own (``cancel_requested``), not part of the migration's state,
and every step's write but a stop's is conditional on its absence: a run that read the job
before the cancel cannot write over it, nor move on past it.
"""

from __future__ import annotations

from s3migrator.errors import LeaseLostError
from s3migrator.jobstore.codec import id_key, job_item, job_key, n, s
from s3migrator.jobstore.writes import Table
from s3migrator.migration_state import MigrationState
from s3migrator.models import JobRecord, JobState, Phase

_RUNNING = s(JobState.RUNNING.value)


class MigrationWrites(Table):
    def set_migration(
        self,
        job_id: str,
        token: str,
        before: Phase,
        after: Phase,
        migration: MigrationState,
        *,
        stopping: bool = False,
    ) -> bool:
        """Record a migration's step (its phase and where it stands) for the run holding the
        lease, a step that got on (its failed resumes start again from none); False when the
        job is no longer as that run read it, or (unless the run is ``stopping``) a cancel
        was asked for meanwhile."""
        condition = "#state = :running AND #phase = :before AND lease_owner = :me"
        if not stopping:
            condition += " AND attribute_not_exists(cancel_requested)"
        return self._update(
            job_key(job_id),
            "SET #phase = :after, migration = :migration, updated_at = :now, resumes = :zero",
            condition,
            {
                ":after": s(after.value),
                ":before": s(before.value),
                ":me": s(token),
                ":migration": s(migration.model_dump_json()),
                ":now": n(self._clock()),
                ":running": _RUNNING,
                ":zero": n(0),
            },
            {"#state": "state", "#phase": "phase"},
        )

    def create_step(self, job_id: str, token: str, step: JobRecord) -> bool:
        """Record a copy step's job (``step``) in one transaction with a check that the run
        (``token``) still holds the migration and no cancel was asked for: a run that lost the
        job, however late it wakes, starts no copy. False when the step exists already, or
        the check failed."""
        new = "attribute_not_exists(pk)"
        return self._transact(
            [
                {
                    "ConditionCheck": {
                        "Key": job_key(job_id),
                        "ConditionExpression": "lease_owner = :me AND #state = :running"
                        " AND attribute_not_exists(cancel_requested)",
                        "ExpressionAttributeValues": {":me": s(token), ":running": _RUNNING},
                        "ExpressionAttributeNames": {"#state": "state"},
                    }
                },
                {"Put": {"Item": job_item(step), "ConditionExpression": new}},
                {"Put": {"Item": id_key(step.job_id), "ConditionExpression": new}},
            ]
        )

    def hold(self, job_id: str, token: str, lease_s: float) -> None:
        """Keep the lease through a long step; LeaseLostError when another run took it, or
        the job ended meanwhile (the watchdog failed it): a step that deletes goes no further.
        It does not count as getting on: a step that fails each time it is taken up fails the
        job after ``max_resumes``."""
        if not self._update(
            job_key(job_id),
            "SET lease_until = :until",
            "lease_owner = :me AND #state = :running",
            {
                ":me": s(token),
                ":until": n(self._clock() + lease_s),
                ":running": _RUNNING,
            },
            {"#state": "state"},
        ):
            raise LeaseLostError(job_id)

    def request_cancel(self, job_id: str) -> bool:
        """Ask a running migration to stop at its next safe point; False when it is not
        running (any more)."""
        return self._update(
            job_key(job_id),
            "SET cancel_requested = :yes, updated_at = :now",
            "#state = :running AND attribute_exists(migration)",
            {":yes": {"BOOL": True}, ":now": n(self._clock()), ":running": _RUNNING},
            {"#state": "state"},
        )

    def reopen(self, job_id: str, epoch: int, phase: Phase, migration: MigrationState) -> bool:
        """Take a stopped migration up again at ``phase``, only if it is still the run
        (``epoch``) that was read: two resumes never both reopen it. A resume message is due
        now: if none comes, the watchdog sends one."""
        return self._update(
            job_key(job_id),
            "SET #state = :running, #phase = :phase, migration = :migration, updated_at = :now,"
            " resume_due = :now, resumes = :zero"
            " REMOVE finished_at, #error, expires_at, cancel_requested"
            " ADD epoch :one",
            "#state = :failed AND (epoch = :epoch OR (attribute_not_exists(epoch)"
            " AND :epoch = :zero))",
            {
                ":running": _RUNNING,
                ":failed": s(JobState.FAILED.value),
                ":phase": s(phase.value),
                ":migration": s(migration.model_dump_json()),
                ":now": n(self._clock()),
                ":one": n(1),
                ":epoch": n(epoch),
                ":zero": n(0),
            },
            {"#state": "state", "#phase": "phase", "#error": "error"},
        )
