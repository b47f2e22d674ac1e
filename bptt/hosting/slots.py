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
            return Ticket(False, position, len(self._queue), len(self._holders))

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
