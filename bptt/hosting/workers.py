"""The process's training workers: threads that advance every session's runs in time slices (no UI).

A page never trains in its own script run. It tells the pool, on every run, what it wants
(`reconcile(session, lane, job, running)`): the pool keeps one entry per (session, lane), and worker
threads step the entries that want to run, one step at a time, so that a pause takes effect after the
step in flight. `reconcile` is idempotent: calling it twice with the same wish changes nothing, and a
page run that is lost costs nothing, because the next one says the same.

Bounds, as the training slots set them (bptt/hosting/slots.py): at most `capacity` sessions train at once, the
others queue first-come and take turns every `quantum` seconds; one worker thread per slot; never two
workers on one session (its runs take turns in one slot, so a job is never stepped by two threads).

The lease: an entry trains only while its page keeps reconciling it; `lease` seconds after the last
reconcile it is dropped (a closed tab stops its page runs, so its run stops training within seconds and
costs the server nothing). A later reconcile of the same wish picks it up again. A worker idle for
IDLE_EXIT_SECONDS ends, and gives back what it kept per thread.

A job is time-sliced work (bptt/slices.py: a Trainer or a Comparison, or a run or live comparison that
wraps one): `run_for(seconds)` trains about that long, at least one step, and returns the steps' records;
`interrupt()` makes a `run_for` in another thread return after its step; `finished` says it will never
train again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .slots import Ticket, TrainingSlots, shared_slots

log = logging.getLogger("bptt_lab.workers")

SLICE_SECONDS = 0.5  # one turn of a worker on an entry, between scheduling decisions
LEASE_SECONDS = 5.0  # an entry not reconciled for this long stops training
MAX_THREADS = 8
RELEASE_WAIT = 2.0  # reconcile(running=False) waits at most this long for the step in flight
# A worker with nothing to train for this long ends; the next wish starts another. A thread that trained
# keeps per-thread memory (torch's and its BLAS's buffers, its malloc arena) until it ends.
IDLE_EXIT_SECONDS = 10.0


@dataclass
class _Entry:
    session: str
    lane: str
    job: Any
    lease_until: float
    busy: bool = False  # a worker is stepping it now
    error: BaseException | None = None  # training raised: the entry trains no more until un-wished
    reported: bool = False
    last_turn: float = 0.0
    steps: int = 0  # steps this entry made in the pool (for tests and measurements)
    done: threading.Event = field(default_factory=threading.Event)  # set whenever not busy


@dataclass(frozen=True)
class State:
    """What `reconcile` answers: the session's place in the queue (None when it trains or does not wish
    to) and an error raised while training, reported once."""

    ticket: Ticket | None
    error: BaseException | None


class Workers:
    """The pool. `slots` is a TrainingSlots, or a callable returning the current one."""

    def __init__(self, slots=shared_slots, *, slice_seconds: float = SLICE_SECONDS,
                 lease: float = LEASE_SECONDS, clock=time.monotonic) -> None:  # fmt: skip
        self._slots = slots
        self.slice_seconds, self.lease, self.clock = slice_seconds, lease, clock
        self._cond = threading.Condition()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._tickets: dict[str, Ticket] = {}
        self._asked: set[str] = set()  # sessions the pool asked the slots for
        self._busy_sessions: set[str] = set()
        self._threads: list[threading.Thread] = []

    @property
    def slots(self) -> TrainingSlots:
        return self._slots() if callable(self._slots) else self._slots

    # -- the page's side ---------------------------------------------------------------------------------
    def reconcile(self, session: str, lane: str, job: Any, running: bool) -> State:
        """Make the pool match the page's wish for this (session, lane): train `job` (renewing its lease)
        when `running`, else train nothing there. Returns once a job no longer wished for is out of the
        workers' hands (after the step in flight, at most RELEASE_WAIT s)."""
        key = (session, lane)
        wait_for = None
        with self._cond:
            entry = self._entries.get(key)
            if entry is not None and (not running or entry.job is not job):
                del self._entries[key]
                entry.job.interrupt()
                wait_for = entry
                entry = None
            if running and job is not None and not job.finished:
                if entry is None:
                    entry = self._entries[key] = _Entry(session, lane, job, 0.0)
                    entry.done.set()
                entry.lease_until = self.clock() + self.lease
                self._ensure_threads()
                self._cond.notify_all()
            error = None
            if entry is not None and entry.error is not None and not entry.reported:
                entry.reported, error = True, entry.error
            ticket = self._tickets.get(session) if entry is not None else None
        if wait_for is not None:
            wait_for.done.wait(RELEASE_WAIT)
        if ticket is not None and ticket.granted:
            ticket = None
        return State(ticket, error)

    def failed(self, session: str, lane: str) -> bool:
        """True while the lane's entry stopped on an error (until the page stops wishing it to run)."""
        with self._cond:
            entry = self._entries.get((session, lane))
            return entry is not None and entry.error is not None

    def steps(self, session: str, lane: str) -> int:
        with self._cond:
            entry = self._entries.get((session, lane))
            return entry.steps if entry is not None else 0

    def entries(self) -> int:
        with self._cond:
            return len(self._entries)

    # -- the workers' side -------------------------------------------------------------------------------
    def _ensure_threads(self) -> None:
        from ..device import configure_threads

        want = min(MAX_THREADS, self.slots.capacity)
        configure_threads(self.slots.capacity)  # each slot's worker gets cores / slots of torch's threads
        while len(self._threads) < want:
            t = threading.Thread(target=self._work, name=f"bptt-worker-{len(self._threads)}", daemon=True)
            self._threads.append(t)
            t.start()

    def _schedule(self) -> _Entry | None:
        """Under the lock: drop lapsed and finished entries, update the slots, and pick the entry to step
        next (its session holds a slot and no other worker has it), the one waiting longest."""
        now, slots = self.clock(), self.slots
        for key, e in list(self._entries.items()):
            if not e.busy and (e.lease_until < now or e.job.finished):
                del self._entries[key]
        wishing = {e.session for e in self._entries.values() if e.error is None}
        for session in self._asked - wishing:
            slots.release(session)
            self._tickets.pop(session, None)
        self._asked = wishing
        for session in wishing:
            self._tickets[session] = slots.request(session)
        ready = [
            e for e in self._entries.values()
            if e.error is None and not e.busy and e.session not in self._busy_sessions
            and self._tickets[e.session].granted
        ]  # fmt: skip
        if not ready:
            return None
        entry = min(ready, key=lambda e: e.last_turn)
        entry.busy = True
        entry.done.clear()
        self._busy_sessions.add(entry.session)
        return entry

    def _work(self) -> None:
        idle_since = time.monotonic()
        while True:
            with self._cond:
                entry = self._schedule()
                if entry is None:
                    if not self._entries and time.monotonic() - idle_since > IDLE_EXIT_SECONDS:
                        self._threads.remove(threading.current_thread())
                        return
                    self._cond.wait(0.1)
                    continue
            idle_since = time.monotonic()
            try:
                self._turn(entry)
            except Exception as e:  # a job's failure stops that job, never the worker
                log.exception("training failed")
                entry.error = e
            finally:
                with self._cond:
                    entry.busy = False
                    entry.last_turn = self.clock()
                    self._busy_sessions.discard(entry.session)
                    entry.done.set()
                    self._cond.notify_all()

    def _turn(self, entry: _Entry) -> None:
        """Step the entry until its slice is used, it is no longer wished for, or it finishes: one step
        per `run_for(0)`, the wish checked before each, so that a pause or a lapsed lease takes effect
        after the step in flight even when it comes before the slice began."""
        deadline = time.perf_counter() + self.slice_seconds
        while self._wished(entry) and not entry.job.finished and time.perf_counter() < deadline:
            entry.steps += len(entry.job.run_for(0.0))  # one step
            time.sleep(0)  # let a page thread waiting for the GIL in

    def _wished(self, entry: _Entry) -> bool:
        with self._cond:
            current = self._entries.get((entry.session, entry.lane)) is entry
            return current and entry.lease_until >= self.clock()


_shared: Workers | None = None
_shared_lock = threading.Lock()


def shared_workers() -> Workers:
    """The process's one pool, over the process's training slots (bptt.hosting.slots.shared_slots)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Workers()
        return _shared
