"""A large job's listing, cut into key ranges (shards) listed at once by threads of one run.

When a job's listing starts, a source of more than ``listing_shard_min_keys`` keys is split
(``coordinator.shard_split``, ``coordinator.shards``) and the split recorded on the job, with
one checkpoint item per shard, in one transaction: every later run lists the same ranges,
whatever the bucket holds by then. A job whose listing began in one chain, or whose source is
small, keeps the one chain (``JobRunner._enumerate``) and the batch ids it always had.

Each shard is listed as one chain is: its batches numbered in its own series
(``{job}:s003-000000012``), each group of ten defined (one transaction: the batches, the
shard's checkpoint moved forward from what the run read, the job's totals ADDed, the job's
lease checked and renewed) before it is sent, its last group sent again by the next run
(``last_group_again``, a range that changed at the source replaced). Up to
``listing_threads`` threads of the run take shards in turn, under the run's one lease.

Interleavings this survives (each tested in ``tests/component/test_sharded_crashes.py`` and
``test_sharded_listing.py``):

* A run dies between a shard's define and its send, or mid-shard: the next run takes each
  shard from its own checkpoint and sends each last group again with the ids it was defined
  with; shards that were complete stay complete and are not listed again.
* The source changes in a defined range before the next run sends it again: the batch is
  voided and replaced (``+N`` ids), the job's totals corrected in the same transaction.
* The lease is lost (the run stalled past it, another run took the job): the write of any
  thread fails its lease condition, that thread raises, every other thread stops at its next
  step (a halt), and any later write of theirs would fail the same condition: nothing is
  defined after the lease changed hands, and the run ends LOST.
* Two threads define at once: their transactions conflict on the job item and DynamoDB
  cancels one, which is tried again (``Table._retried``); totals are ADDs, never read and
  written back, so neither is lost.
* Asked to stop, or the work queue full: each thread waits for room (renewing the lease) or
  saves its shard's checkpoint after its group was sent and stops; a resume goes on.
* One thread meets an error: the others halt, and the run resumes later from the shards'
  checkpoints. The listing is complete only in a transaction checking every shard complete.

The totals progress reads (``l_next_seq``, ``l_objects``, ``l_bytes``, the tally) stay the
job item's, the sum of the shards', so counting and finishing a job are the same as for one
chain.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from coordinator.batching import group_is_full, limits, pack
from coordinator.resend import last_group_again
from coordinator.shard_split import split_for
from coordinator.shards import ranges
from s3migrator.errors import LeaseLostError
from s3migrator.selection import Tally

if TYPE_CHECKING:
    from coordinator.jobs import JobRunner, Run, RunEnd
    from s3migrator.jobstore.listing_shards import ListingShard
    from s3migrator.models import CopySpec
    from s3migrator.selection import ListingPlan
    from s3migrator.work import WorkBatch

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    DONE = "done"  # the shard's range is listed to its end
    STOPPED = "stopped"  # asked to stop, or halted: its checkpoint stands


def list_in_shards(runner: JobRunner, run: Run, spec: CopySpec, plan: ListingPlan) -> RunEnd | None:
    """List the job in shards, splitting it first if it is new and large; None when it is
    listed in one chain."""
    store = runner.store
    shards = store.listing_shards(run.job_id)
    if not shards:
        listing = run.record.listing
        if listing.next_seq or listing.start_after is not None:
            return None  # its one chain has begun: it goes on as it began
        if plan.manifest is not None:
            return None  # a manifest is read in one pass: every shard would read it whole
        if plan.versions == "all":
            # moto (the embedded stack) drops the first version after a KeyMarker that names
            # no key, where S3 does not: a shard's start would lose a version there
            return None
        source = runner.clients.for_location(spec.source, spec)
        chosen = split_for(source, spec.source, spec.options.source_payer(), runner.settings)
        if not chosen:
            return None
        shards = store.record_split(run.job_id, run.token, ranges(chosen))
        log.info("job %s: listing split into %d shards", run.job_id, len(shards))
    return ShardedListing(runner, run, spec, plan).go(shards)


@dataclass
class ShardedListing:
    runner: JobRunner
    run: Run
    spec: CopySpec
    plan: ListingPlan
    # Set when one thread stops, fails or loses the lease: the others stop at their next step.
    halt: threading.Event = field(default_factory=threading.Event)

    def go(self, shards: list[ListingShard]) -> RunEnd:
        from coordinator.jobs import RunEnd  # jobs.py calls this module

        left: queue.SimpleQueue[ListingShard] = queue.SimpleQueue()
        pending = [shard for shard in shards if not shard.checkpoint.complete]
        for shard in pending:
            left.put(shard)
        outcomes: list[Outcome] = []
        errors: list[Exception] = []

        def lister() -> None:
            while not self.halt.is_set():
                try:
                    shard = left.get_nowait()
                except queue.Empty:
                    return
                try:
                    outcome = self._list_shard(shard)
                except Exception as exc:  # the run's own thread raises it
                    errors.append(exc)
                    self.halt.set()
                    return
                outcomes.append(outcome)
                # This thread's own outcome: the list's last may be another thread's by now.
                if outcome is not Outcome.DONE:
                    self.halt.set()

        count = min(self.runner.settings.listing_threads, len(pending))
        threads = [
            threading.Thread(target=lister, name=f"listing-{self.run.job_id}-{n}", daemon=True)
            for n in range(count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        lost = [error for error in errors if isinstance(error, LeaseLostError)]
        if lost or errors:
            raise (lost or errors)[0]
        if self.halt.is_set():
            return self.runner._stop(self.run)
        self.runner.store.complete_sharded(self.run.job_id, self.run.token, shards)
        log.info("job %s: listed in %d shards", self.run.job_id, len(shards))
        return RunEnd.LISTED

    def _list_shard(self, shard: ListingShard) -> Outcome:
        runner, spec, plan, run = self.runner, self.spec, self.plan, self.run
        store, settings = runner.store, runner.settings
        checkpoint = shard.checkpoint
        if checkpoint.group_start < checkpoint.next_seq:
            again = last_group_again(
                store,
                settings,
                run.token,
                spec,
                checkpoint,
                lambda: runner._sieve(run, spec, plan, merged=False),
                shard=shard.index,
            )
            if again:
                runner._send(again)
        sieve = runner._sieve(run, spec, plan, merged=True)
        batches = pack(
            sieve.items(checkpoint.start_after, through=shard.through),
            spec,
            first_seq=checkpoint.next_seq,
            together=plan.versions == "all",
            shard=shard.index,
            **limits(settings),
        )
        group: list[tuple[WorkBatch, str | None]] = []  # each batch, and the key before it
        saved_seq = checkpoint.next_seq
        seen = Tally()  # what the sieve left out up to the last batch defined

        def define_and_send() -> None:
            nonlocal saved_seq, seen
            checkpoint.group_start = checkpoint.next_seq
            tallies = []  # each batch's range's, so a replacement can set the total right
            for batch, _ in group:
                checkpoint.next_seq += 1
                checkpoint.start_after = batch.items[-1].key
                now = sieve.through(checkpoint.start_after)
                tallies.append(now.minus(seen))
                seen = now
            # Defined first: from here on each id names these keys, whatever happens next.
            store.define_shard_group(
                run.job_id,
                run.token,
                shard,
                settings.lease_s,
                saved_seq,
                group,
                ranged=not plan.sync,
                tallies=tallies,
            )
            saved_seq = checkpoint.next_seq
            runner._send([batch for batch, _ in group])
            group.clear()

        after = checkpoint.start_after
        for batch in batches:
            group.append((batch, after))
            after = batch.items[-1].key
            if group_is_full(len(group), sum(len(b.items) for b, _ in group)):
                if not self._room():
                    return Outcome.STOPPED
                define_and_send()
                if runner.stop.is_set() or self.halt.is_set():
                    # The group is on its way: the next run need not send it again.
                    checkpoint.group_start = checkpoint.next_seq
                    store.save_shard(run.job_id, run.token, shard, settings.lease_s, saved_seq)
                    return Outcome.STOPPED
        if self.halt.is_set():
            return Outcome.STOPPED
        if group:
            define_and_send()
        checkpoint.complete = True
        left_out = sieve.running.minus(seen)  # after its last batch, to the range's end
        store.save_shard(run.job_id, run.token, shard, settings.lease_s, saved_seq, left_out)
        log.info("job %s: shard %d listed", run.job_id, shard.index)
        return Outcome.DONE

    def _room(self) -> bool:
        """``JobRunner._room_in_the_work_queue`` for one thread: False when asked to stop, or
        when the run halts, meanwhile."""
        return self.runner._room_in_the_work_queue(self.run, self.halt.is_set)
