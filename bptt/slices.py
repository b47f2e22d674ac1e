"""Work that advances one step at a time, in slices of wall time, and can be interrupted between steps.

The Trainer (one minibatch a step) and the Comparison (one minibatch of its current run a step) are both
`TimeSliced`: the dashboard's workers (bptt/hosting/workers.py) call `run_for(seconds)` to train a slice,
a page calls `interrupt()` to end a slice in flight after its current step (a pause does not wait for a
whole slice), and the lock keeps two threads from stepping at once while a reader holds it for a moment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from typing import Any


class TimeSliced:
    """Subclasses define `done` and `_step()` (one unit of work; a record, or None when nothing was done);
    `step`, `run_for` and `interrupt` are the same for all of them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held by the step in progress, and for a moment by a reader
        self._generation = 0  # bumped by interrupt(): a run_for in flight stops after its current step

    @property
    def done(self) -> bool:
        """True once no step will do anything again."""
        raise NotImplementedError

    def _step(self) -> Any:
        raise NotImplementedError

    def step(self, wait: bool = False) -> Any:
        """One step under the lock, returning its record; None when done, or when another thread holds the
        lock (skipped, never run twice at once), unless `wait` (a reader holds it for a moment)."""
        if not self.lock.acquire(blocking=wait):
            return None
        try:
            return None if self.done else self._step()
        finally:
            self.lock.release()

    def interrupt(self) -> None:
        """Ask a `run_for` running in another thread to return after its current step."""
        self._generation += 1

    def run_for(self, seconds: float, max_steps: int | None = None, wait: bool = False) -> list[Any]:
        """Step until `seconds` of wall time have passed (at least one step), the work is done, max_steps
        records are made, or `interrupt()` is called; `wait` as for `step`. Returns the steps' records."""
        records: list[Any] = []
        deadline = time.perf_counter() + seconds
        generation = self._generation
        while not self.done and generation == self._generation:
            if max_steps is not None and len(records) >= max_steps:
                break
            rec = self.step(wait)
            if rec is None:
                if self.done or self.lock.locked():
                    break
                continue
            records.append(rec)
            if time.perf_counter() >= deadline:
                break
        return records


def mapped(steps: Generator, f: Callable[[Any], Any]) -> Generator:
    """Resumable work (a generator that yields its progress and returns its result) with each progress
    value passed through `f`; it returns what `steps` returns."""
    while True:
        try:
            done = next(steps)
        except StopIteration as stop:
            return stop.value
        yield f(done)


def drain(steps: Generator, progress: Callable[[Any], None] | None = None) -> Any:
    """Run resumable work to its end in this thread, telling `progress` each value it yields; its result."""
    while True:
        try:
            done = next(steps)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            progress(done)
