"""A deterministic scheduler for actors that run the product's own code on threads.

Each actor (a coordinator handling a message, a copier handling a batch, a progress run, a
redrive) runs on a thread of its own, but only one runs at a time: an actor gives the turn back
at every call it makes to AWS (before the call and after it), and the scheduler, drawing from one
seeded random source, picks who goes next. So every interleaving is one of calls, and a seed
replays it exactly. The scheduler may also kill an actor's process at any of those points,
before a call (it never happens) or after it (it happened, the answer is lost): every actor of
that process raises ``Crash`` at its next point, a BaseException the product never catches, as a
process killed there would simply stop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TURN_TIMEOUT_S = 30.0


class Crash(BaseException):
    """The actor's process died here."""


class HarnessError(AssertionError):
    """The harness itself is stuck (an actor neither yields nor ends)."""


@dataclass(eq=False)
class Process:
    """What dies together: a coordinator or copier process, or one CLI/Lambda invocation."""

    name: str
    dead: bool = False


@dataclass(eq=False)
class Actor:
    name: str
    process: Process
    body: Callable[[], object]
    thread: threading.Thread | None = None
    done: bool = False
    crashed: bool = False
    error: BaseException | None = None
    where: str = "start"
    crash_next: bool = False


@dataclass
class Scheduler:
    log: list[str] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _turn: Actor | None = None
    _by_thread: dict[int, Actor] = field(default_factory=dict)
    actors: list[Actor] = field(default_factory=list)

    # --- called from actor threads -------------------------------------------------------------

    def point(self, where: str) -> None:
        """A point where the calling actor gives the turn back (a no-op off actor threads)."""
        actor = self._by_thread.get(threading.get_ident())
        if actor is None:
            return
        if actor.process.dead:
            raise Crash(actor.name)
        with self._cond:
            actor.where = where
            self._turn = None
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._turn is actor)
        if actor.crash_next or actor.process.dead:
            actor.process.dead = True
            raise Crash(actor.name)

    # --- called from the test's thread ---------------------------------------------------------

    def start(self, name: str, process: Process, body: Callable[[], object]) -> Actor:
        actor = Actor(name, process, body)
        thread = threading.Thread(target=self._run, args=(actor,), name=name, daemon=True)
        actor.thread = thread
        self.actors.append(actor)
        thread.start()  # returns once the thread runs, its ident set
        assert thread.ident is not None
        self._by_thread[thread.ident] = actor
        self.log.append(f"start {name}")
        self._resume(actor)  # runs it to its first call
        return actor

    def runnable(self) -> list[Actor]:
        return [actor for actor in self.actors if not actor.done]

    def step(self, actor: Actor, *, crash: bool = False) -> None:
        """Let ``actor`` run to its next point (or its end); with ``crash``, its process dies
        where it stands."""
        self.log.append(f"{'kill' if crash else 'step'} {actor.name} at {actor.where}")
        actor.crash_next = crash
        self._resume(actor)

    def kill(self, process: Process) -> None:
        """The process dies: each of its actors crashes when it next runs, which is now."""
        self.log.append(f"kill process {process.name}")
        process.dead = True
        for actor in [a for a in self.actors if a.process is process and not a.done]:
            self._resume(actor)

    def finish_all(self) -> None:
        """Run every actor to its end, in turn (no crashes)."""
        while runnable := self.runnable():
            self.step(runnable[0])

    def _resume(self, actor: Actor) -> None:
        with self._cond:
            self._turn = actor
            self._cond.notify_all()
            if not self._cond.wait_for(lambda: self._turn is None, timeout=TURN_TIMEOUT_S):
                raise HarnessError(f"{actor.name} neither yielded nor ended at {actor.where}")
        if actor.done:
            self.actors.remove(actor)

    def _run(self, actor: Actor) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._turn is actor)
        try:
            actor.body()
        except Crash:
            actor.crashed = True
        except BaseException as exc:  # handed to the test, which decides what it means
            actor.error = exc
        finally:
            with self._cond:
                actor.done = True
                self._by_thread.pop(threading.get_ident(), None)
                self._turn = None
                self._cond.notify_all()


def hook_client(client: Any, scheduler: Scheduler, service: str) -> None:
    """Make every call ``client`` makes a point before and after it."""

    def before(model: Any, **_: Any) -> None:
        scheduler.point(f"before {service}.{model.name}")

    def after(model: Any, **_: Any) -> None:
        scheduler.point(f"after {service}.{model.name}")

    client.meta.events.register("before-call", before)
    client.meta.events.register("after-call", after)


class ScheduledSQS:
    """The fake SQS with a point before and after each call, as the boto3 clients have."""

    def __init__(self, fake: Any, scheduler: Scheduler) -> None:
        self._fake = fake
        self._scheduler = scheduler

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._fake, name)
        if not callable(target) or name.startswith("_"):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self._scheduler.point(f"before sqs.{name}")
            result = target(*args, **kwargs)
            self._scheduler.point(f"after sqs.{name}")
            return result

        return call
