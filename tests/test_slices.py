"""bptt.slices.TimeSliced, the piece the Trainer and the Comparison share: a slice makes at least one
step and stops at its deadline, at max_steps, when the work is done, or after the step in flight when
another thread interrupts; a step is skipped, not run twice at once, while another thread holds the lock."""

from __future__ import annotations

import threading
import time

import pytest

from bptt.slices import TimeSliced


class Counter(TimeSliced):
    def __init__(self, limit: int = 10**9, pause: float = 0.0) -> None:
        super().__init__()
        self.n, self.limit, self.pause = 0, limit, pause
        self.started = threading.Event()

    @property
    def done(self) -> bool:
        return self.n >= self.limit

    def _step(self) -> int:
        self.started.set()
        time.sleep(self.pause)
        self.n += 1
        return self.n


def test_a_slice_makes_at_least_one_step_and_stops_at_max_steps_or_when_done():
    c = Counter(limit=7)
    assert c.run_for(0.0) == [1]  # a zero-second slice still makes one step
    assert c.run_for(60.0, max_steps=3) == [2, 3, 4]
    assert c.run_for(60.0) == [5, 6, 7] and c.done
    assert c.run_for(60.0) == [] and c.step() is None


def test_a_slice_stops_at_its_deadline():
    c = Counter(pause=0.01)
    start = time.perf_counter()
    records = c.run_for(0.2)
    took = time.perf_counter() - start
    assert 1 <= len(records) <= 21 and records == list(range(1, len(records) + 1))
    assert 0.2 <= took < 0.2 + 5.0  # ends after the step that crosses the deadline (loaded host: slack)


def test_a_step_is_skipped_while_another_thread_holds_the_lock():
    c = Counter()
    with c.lock:
        assert c.step() is None and c.run_for(1.0) == [] and c.n == 0
    assert c.step() == 1


def test_interrupt_ends_a_slice_in_flight_after_its_step():
    c = Counter(pause=0.01)
    out: list[list[int]] = []
    worker = threading.Thread(target=lambda: out.append(c.run_for(60.0)), daemon=True)
    worker.start()
    assert c.started.wait(30.0)
    c.interrupt()
    worker.join(timeout=15.0)
    assert not worker.is_alive(), "the slice went on after interrupt()"
    assert out[0] == list(range(1, len(out[0]) + 1)) and c.n == len(out[0])
    assert len(c.run_for(0.0)) == 1  # a new slice is not affected by the old interrupt


def test_drain_and_mapped_pass_progress_on_and_keep_the_result():
    from bptt.slices import drain, mapped

    def work():
        yield from range(3)
        return "done"

    seen = []
    assert drain(work(), seen.append) == "done" and seen == [0, 1, 2]
    assert drain(work()) == "done"
    doubled = mapped(work(), lambda i: 2 * i)
    assert [next(doubled) for _ in range(3)] == [0, 2, 4]
    with pytest.raises(StopIteration) as stop:
        next(doubled)
    assert stop.value.value == "done"
