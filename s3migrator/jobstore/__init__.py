"""The DynamoDB job store: job records, listing checkpoints, exact per-batch counters, failures.

One table, keyed by ``pk`` (``JOB#<id>``) and ``sk``:

* ``sk = JOB``: the job record (``JobStore``). Counters are flat numeric attributes so copiers
  can ``ADD`` to them; the listing checkpoint lives beside them and only the lease holder
  writes it.
* ``sk = BATCH#<batch id>``: a marker proving a batch was counted (expires through TTL).
* ``sk = FAIL#<sha256 of key>``: one record per object that could not be copied
  (``FailureStore``, reached as ``JobStore.failures``).

The sparse index ``by-kind`` (``kind``, ``created_at``) lists jobs without scanning markers.
Item layout lives in ``codec``; every write that may lose a condition goes through one helper.
"""

from s3migrator.jobstore.codec import JOBS_INDEX
from s3migrator.jobstore.failures import FailureStore
from s3migrator.jobstore.store import Clock, JobStore

__all__ = ["JOBS_INDEX", "Clock", "FailureStore", "JobStore"]
