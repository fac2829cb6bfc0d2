"""A migration's long steps keep the job's lease while they get on: a verification that lasts
many leases is not taken for a dead run (the watchdog would start another, and the work would
be done twice), and a run that lost its lease stops verifying."""

from __future__ import annotations

from typing import Any

import pytest
from accounts import BOTH_ACCOUNTS, DESTINATION_ACCOUNT, Account
from test_migration import (
    NAME,
    OBJECTS,
    migration,
    objects_of,
    run_until_ended,
    serve_until,
    source,
    submit,
)

import coordinator.migration
import coordinator.migration_run
from coordinator.verify import verify
from s3migrator.aws import Aws
from s3migrator.errors import LeaseLostError
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState
from s3migrator.resources import Resources

__all__ = ["source"]
LEASE_S = 120  # the settings' default


def slow_verify(store: JobStore, clock: Any, lapsed: list[str], **steal: Any) -> Any:
    """``verify`` where comparing each object takes most of a lease; each comparison notes
    whether the job's lease had lapsed by its end. With ``steal``, another run takes the job
    when the first object is compared."""

    def slow(*args: Any, **kwargs: Any) -> Any:
        def compared(size: int) -> None:
            clock.advance(LEASE_S * 0.8)
            record = store.get_job("mig-1")
            assert record is not None
            lapsed.append("lapsed" if record.lease_until < clock() else "held")
            if steal and lapsed == ["held"]:
                assert store.acquire_lease("mig-1", "another-run", LEASE_S) is False
                clock.advance(LEASE_S * 2)  # the run stalls for two leases...
                assert store.acquire_lease("mig-1", "another-run", LEASE_S)  # ...and loses it

        # One object at a time: each comparison's lease keeping, then its time passing.
        return verify(*args, on_compared=compared, workers=1, **kwargs)

    return slow


def test_a_verification_that_lasts_many_leases_keeps_the_jobs_lease(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a confirmed migration whose verifications compare each object in most of a lease
    lapsed: list[str] = []
    slow = slow_verify(store, clock, lapsed)
    monkeypatch.setattr(coordinator.migration_run, "verify", slow)
    monkeypatch.setattr(coordinator.migration, "verify", slow)
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1, lease_s=LEASE_S)
    submit(sqs, resources, migration(confirm_delete_source=True))
    # WHEN it runs
    run_until_ended(aws, sqs, store, resources, runner)
    # THEN the lease never lapsed in any of its verifications (three, of three objects each),
    # and the migration ended whole
    assert lapsed == ["held"] * 9
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.SUCCEEDED, record and record.error
    destination = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2").client("s3")
    assert objects_of(destination, NAME) == OBJECTS


def test_a_run_that_lost_its_lease_in_a_verification_stops_verifying(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a migration whose run stalls for two leases in its first verification, and
    # another run that takes the job meanwhile
    lapsed: list[str] = []
    slow = slow_verify(store, clock, lapsed, steal=True)
    ended: list[BaseException] = []
    real = coordinator.migration_run.MigrationRun._differences

    def watched(self: Any, *args: Any, **kwargs: Any) -> str:
        try:
            return real(self, *args, **kwargs)
        except BaseException as exc:
            ended.append(exc)
            raise

    monkeypatch.setattr(coordinator.migration_run, "verify", slow)
    monkeypatch.setattr(coordinator.migration_run.MigrationRun, "_differences", watched)
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1, lease_s=LEASE_S)
    submit(sqs, resources, migration(confirm_delete_source=True))
    # WHEN it runs until that verification ends
    serve_until(aws, sqs, store, resources, runner, lambda: bool(ended))
    # THEN the stalled run stopped at its next object with its lease lost, and wrote nothing
    assert len(ended) == 1 and isinstance(ended[0], LeaseLostError), ended
    assert lapsed == ["held"]
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.RUNNING
    assert record.phase.value == "copying_to_temporary"
    assert objects_of(source, NAME) == OBJECTS
