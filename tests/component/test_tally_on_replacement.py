"""What a listing left out stays exact when a batch sent again is replaced: a run that died after
defining its last group leaves it to the next, which lists each range again; when an object in
it changed so that the job's selection now takes or leaves it, the tally follows the replacement
(each batch's record keeps its range's tally, and the replacement adds the difference)."""

from __future__ import annotations

from typing import Any

from moto_helpers import fill, job_message, resume_falls_due, run_killed_before_checkpoint

from progress.refresh import refresh
from s3migrator.models import Selection
from s3migrator.settings import Settings


def died_before_checkpoint(runner: Any) -> None:
    run_killed_before_checkpoint(runner, job_message("job-1", select=Selection(max_size=10)))


def finish(store: Any, sqs: Any, resources: Any, clock: Any, runner: Any, copy_all: Any) -> Any:
    resume_falls_due(store, clock)
    run = runner.take("job-1", None)
    assert run is not None
    runner.work(run)
    copy_all()
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    return store.get_job("job-1")


def test_an_object_the_relisting_now_leaves_out_is_tallied(
    s3: Any, sqs: Any, store: Any, resources: Any, clock: Any, make_runner: Any, copy_all: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"small", "b": b"small"})
    runner = make_runner()
    died_before_checkpoint(runner)
    s3.put_object(Bucket="src-bucket", Key="b", Body=b"now larger than 10 bytes")
    record = finish(store, sqs, resources, clock, runner, copy_all)
    c, t = record.counters, record.listing.tally
    # THEN each of the 2 source objects is copied, failed or tallied as left out.
    assert c.objects_copied + c.objects_failed + t.filtered == 2


def test_an_object_the_relisting_now_takes_is_not_also_tallied(
    s3: Any, sqs: Any, store: Any, resources: Any, clock: Any, make_runner: Any, copy_all: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"small", "b": b"larger than 10 bytes", "c": b"small"})
    runner = make_runner()
    died_before_checkpoint(runner)
    s3.put_object(Bucket="src-bucket", Key="b", Body=b"small")
    record = finish(store, sqs, resources, clock, runner, copy_all)
    c, t = record.counters, record.listing.tally
    # THEN b was copied, so it is not also counted as "not selected".
    assert c.objects_copied + c.objects_failed + t.filtered == 3
