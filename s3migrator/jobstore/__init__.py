"""The DynamoDB job store: jobs, their listing, their batches and exact counters.

One table, keyed by ``pk`` and ``sk``:

* ``JOB#<id>`` / ``JOB``: the job record (``JobStore``): state, phase, the listing checkpoint
  and the run's lease beside it; only the coordinator's run and state changes write it.
* ``JOB#<id>#<shard>`` / ``COUNT``: one of the job's counter shards; counting a batch adds to
  its shard, so the job's counting writes spread over many partitions and never touch the job
  record (``BatchStore.counters`` sums them).
* ``JOB#<id>#<shard>`` / ``BATCH#<batch id>``: a batch's record (``BatchStore``): defined before
  it is sent, counted once with its failures, or void when replaced.

The sparse index ``by-kind`` (``kind``, ``created_at``) finds jobs without scanning batches.
Item layout lives in ``codec``; every write goes through ``writes.Table``.
"""

from s3migrator.jobstore.batches import BatchStore
from s3migrator.jobstore.codec import JOBS_INDEX
from s3migrator.jobstore.store import JobStore
from s3migrator.jobstore.writes import Clock

__all__ = ["JOBS_INDEX", "BatchStore", "Clock", "JobStore"]
