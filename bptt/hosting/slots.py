"""A process-wide cap on how many sessions train at once, shared fairly by time slices.

A public app runs every visitor's training in one process on one or two cores. Unbounded, six visitors
would each get a sixth of a core and contend for it; with this gate at most `capacity` sessions train
at any moment, the rest wait in a first-come queue with a visible place, and a holder gives its slot up
after `quantum` seconds when someone is waiting, so every session makes progress. A session that stops
asking loses its place after `stale_after` seconds.

Pure Python (no UI): the training workers (bptt/hosting/workers.py) call `request()` for every session that
wishes to train, before each slice, and `release()` once it no longer does.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Ticket:
    """The answer to one request: may this session train now, and if not, where is it in the queue."""

    granted: bool
    position: int  # 0 when granted; 1 = next in line
    waiting: int  # sessions in the queue
    training: int  # sessions holding a slot
    wait_s: float = 0.0  # expected seconds until this session gets a slot (expected_wait)
    quantum: float = 0.0  # the time slice a holder keeps while others wait


class TrainingSlots:
    """First-come, time-sliced slots. Thread-safe: every Streamlit session runs in its own thread."""

    def __init__(
        self, capacity: int = 2, quantum: float = 5.0, stale_after: float = 5.0, clock=time.monotonic
    ):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity, self.quantum, self.stale_after, self.clock = capacity, quantum, stale_after, clock
        self._lock = threading.Lock()
        self._holders: dict[str, float] = {}  # session -> when it got its slot
        self._queue: OrderedDict[str, None] = OrderedDict()  # waiting sessions, first come first
        self._seen: dict[str, float] = {}  # session -> its last request

    def request(self, session: str) -> Ticket:
        """Called before each chunk of training: granted, or the session's place in the queue."""
        with self._lock:
            now = self.clock()
            self._seen[session] = now
            self._expire(now)
            if session in self._holders and self._queue and now - self._holders[session] >= self.quantum:
                del self._holders[session]  # time slice used up and someone waits: to the back
                self._queue[session] = None
            if session not in self._holders and session not in self._queue:
                self._queue[session] = None
            self._grant(now)
            if session in self._holders:
                return Ticket(True, 0, len(self._queue), len(self._holders))
            position = list(self._queue).index(session) + 1
            wait = self.expected_wait(position, now)
            return Ticket(False, position, len(self._queue), len(self._holders), wait, self.quantum)

    def expected_wait(self, position: int, now: float) -> float:
        """Seconds until the session at `position` in the queue gets a slot, if every holder keeps
        training to the end of its slice (a holder that pauses or finishes frees its slot sooner): the
        slots free up at the ends of the holders' slices, each new holder keeps its slot a whole
        `quantum`, and the queue is served first come. Call under the lock."""
        free = sorted(max(0.0, self.quantum - (now - t)) for t in self._holders.values())
        free += [0.0] * (self.capacity - len(free))
        heapq.heapify(free)
        for _ in range(position - 1):
            heapq.heappush(free, heapq.heappop(free) + self.quantum)
        return free[0]

    def release(self, session: str) -> None:
        """The session stopped training (pause, stop, finish, reset): free its slot or place."""
        with self._lock:
            self._holders.pop(session, None)
            self._queue.pop(session, None)
            self._seen.pop(session, None)
            self._grant(self.clock())

    def status(self) -> Ticket:
        """How busy the process is (for a status line)."""
        with self._lock:
            self._expire(self.clock())
            return Ticket(False, 0, len(self._queue), len(self._holders))

    def _expire(self, now: float) -> None:
        for session, seen in list(self._seen.items()):
            if now - seen > self.stale_after:  # nobody asks for it any more
                self._holders.pop(session, None)
                self._queue.pop(session, None)
                del self._seen[session]

    def _grant(self, now: float) -> None:
        while self._queue and len(self._holders) < self.capacity:
            session, _ = self._queue.popitem(last=False)
            self._holders[session] = now


def expected_finish(ticket: Ticket, trained_s: float, progress: float) -> float | None:
    """Seconds until a queued run finishes, at the server's current sharing: its wait for a slot, then
    its own remaining training time (measured: `trained_s` seconds of training so far made `progress`
    of the run) stretched by the turns it shares with the other sessions (each of `training + waiting`
    sessions trains `training` slots' worth of the time). None before the run has a measured speed."""
    if ticket.granted or not 0.0 < progress < 1.0 or trained_s <= 0.0:
        return None
    own = trained_s * (1.0 - progress) / progress
    share = ticket.training / max(1, ticket.training + ticket.waiting)
    return ticket.wait_s + own / max(share, 1e-9)


_shared: TrainingSlots | None = None
_shared_lock = threading.Lock()


def shared_slots(capacity: int | None = None) -> TrainingSlots:
    """The process's one TrainingSlots (every session of a Streamlit server shares it). Its capacity is
    `capacity`, else the BPTT_MAX_TRAINING environment variable, else 2; passing a capacity replaces it."""
    global _shared
    with _shared_lock:
        if _shared is None or capacity is not None:
            import os

            n = capacity if capacity is not None else int(os.environ.get("BPTT_MAX_TRAINING", "2"))
            _shared = TrainingSlots(capacity=max(1, n))
        return _shared
