"""The training workers (bptt/hosting/workers.py): a run trains only while wished and leased, pauses after the
step in flight, is never stepped by two threads, and sessions share the slots fairly.

Real threads with a fake job whose step sleeps a few milliseconds; every wait polls with a bound."""

from __future__ import annotations

import threading
import time

import pytest

from bptt.hosting.runs import RunRegistry
from bptt.hosting.slots import TrainingSlots
from bptt.hosting.workers import Workers
from bptt.slices import TimeSliced

STEP = 0.005


class Job(TimeSliced):
    """Time-sliced work whose step sleeps STEP seconds; counts its steps and the most worker threads
    ever inside its `run_for` at once (counted outside the TimeSliced lock, which would hide a second
    worker by making it skip)."""

    def __init__(self, steps_to_finish: int | None = None, fail_at: int | None = None):
        super().__init__()
        self.steps, self.inside, self.most_inside = 0, 0, 0
        self.limit, self.fail_at = steps_to_finish, fail_at
        self.stopped = False
        self.count_lock = threading.Lock()

    @property
    def done(self) -> bool:
        return self.stopped or (self.limit is not None and self.steps >= self.limit)

    finished = done

    def _step(self) -> int:
        time.sleep(STEP)
        self.steps += 1
        if self.fail_at is not None and self.steps >= self.fail_at:
            raise RuntimeError("simulated failure")
        return self.steps

    def run_for(self, seconds: float, **kwargs) -> list:
        with self.count_lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        try:
            return super().run_for(seconds, **kwargs)
        finally:
            with self.count_lock:
                self.inside -= 1


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def pool():
    return Workers(TrainingSlots(capacity=2, quantum=0.2, stale_after=100), slice_seconds=0.05, lease=1.0)


def test_a_wished_job_trains_and_a_paused_one_holds_at_once():
    """A slice far longer than the test: a pause must cut it after the step in flight."""
    pool = Workers(TrainingSlots(capacity=2, stale_after=100), slice_seconds=60.0, lease=60.0)
    job = Job()
    pool.reconcile("s", "train", job, running=True)
    wait_for(lambda: job.steps > 5)
    start = time.monotonic()
    pool.reconcile("s", "train", job, running=False)
    assert time.monotonic() - start < 0.5
    held = job.steps  # reconcile returned after the step in flight: nothing moves from here
    time.sleep(0.3)
    assert job.steps == held
    pool.reconcile("s", "train", job, running=True)
    wait_for(lambda: job.steps > held)


def test_reconciling_twice_is_harmless(pool):
    job = Job()
    for _ in range(3):
        pool.reconcile("s", "train", job, running=True)
    wait_for(lambda: job.steps > 20)
    assert pool.entries() == 1 and job.most_inside == 1
    for _ in range(3):
        pool.reconcile("s", "train", job, running=False)
    assert pool.entries() == 0


def test_one_job_is_never_stepped_by_two_workers(pool):
    """Two free workers and one session: the second worker must leave it alone."""
    jobs = [Job(), Job()]
    for lane, job in zip(("a", "b"), jobs):  # one session, two lanes: they take turns in its one slot
        pool.reconcile("s", lane, job, running=True)
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        for lane, job in zip(("a", "b"), jobs):
            pool.reconcile("s", lane, job, running=True)
        time.sleep(0.05)
    assert all(j.steps > 5 for j in jobs), [j.steps for j in jobs]
    assert max(j.most_inside for j in jobs) == 1
    for lane, job in zip(("a", "b"), jobs):
        pool.reconcile("s", lane, job, running=False)


def test_a_lapsed_lease_stops_the_job_and_a_renewal_resumes_it(pool):
    job = Job()
    pool.reconcile("s", "train", job, running=True)
    wait_for(lambda: job.steps > 5)
    wait_for(lambda: pool.entries() == 0, timeout=3.0)  # no reconcile for the 1 s lease: dropped
    held = job.steps
    time.sleep(0.3)
    assert job.steps == held
    assert pool.slots.status().training == 0, "the lapsed session gave its slot back"
    pool.reconcile("s", "train", job, running=True)
    wait_for(lambda: job.steps > held)
    pool.reconcile("s", "train", job, running=False)


def test_sessions_beyond_the_slots_queue_and_take_turns(pool):
    jobs = {s: Job() for s in "abc"}
    states = {}
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:  # three pages renewing their leases
        for s, job in jobs.items():
            states[s] = pool.reconcile(s, "train", job, running=True)
        time.sleep(0.05)
    assert all(j.steps > 5 for j in jobs.values()), {s: j.steps for s, j in jobs.items()}
    for s, job in jobs.items():
        pool.reconcile(s, "train", job, running=False)
    assert pool.slots.status().training == 0 and pool.slots.status().waiting == 0


def test_a_queued_session_is_told_its_place(pool):
    pool.slots.quantum = 600.0
    first, second, third = Job(), Job(), Job()
    pool.reconcile("a", "train", first, running=True)
    pool.reconcile("b", "train", second, running=True)
    wait_for(lambda: first.steps > 0 and second.steps > 0)
    pool.reconcile("c", "train", third, running=True)
    wait_for(lambda: pool.reconcile("c", "train", third, running=True).ticket is not None)
    ticket = pool.reconcile("c", "train", third, running=True).ticket
    assert ticket.position == 1 and ticket.training == 2
    assert third.steps == 0
    pool.reconcile("a", "train", first, running=False)
    wait_for(lambda: pool.reconcile("c", "train", third, running=True) and third.steps > 0)
    for s, job in (("b", second), ("c", third)):
        pool.reconcile(s, "train", job, running=False)


def test_a_finished_job_leaves_the_pool_and_its_slot(pool):
    job = Job(steps_to_finish=10)
    pool.reconcile("s", "train", job, running=True)
    wait_for(lambda: job.finished)
    wait_for(lambda: pool.entries() == 0)
    assert job.steps == 10
    wait_for(lambda: pool.slots.status().training == 0)


def test_a_failing_job_stops_and_reports_once(pool):
    job = Job(fail_at=3)
    pool.reconcile("s", "train", job, running=True)
    wait_for(lambda: pool.failed("s", "train"))
    assert job.steps == 3
    errors = [pool.reconcile("s", "train", job, running=True).error for _ in range(3)]
    assert isinstance(errors[0], RuntimeError) and errors[1:] == [None, None]
    time.sleep(0.1)
    assert job.steps == 3, "a failed job does not train again while still wished"
    pool.reconcile("s", "train", job, running=False)
    assert not pool.failed("s", "train")


def test_a_new_job_in_the_lane_replaces_the_old_one(pool):
    old, new = Job(), Job()
    pool.reconcile("s", "train", old, running=True)
    wait_for(lambda: old.steps > 0)
    pool.reconcile("s", "train", new, running=True)
    held = old.steps
    wait_for(lambda: new.steps > 3)
    assert old.steps == held
    pool.reconcile("s", "train", new, running=False)


def test_the_registry_names_the_next_run():
    reg = RunRegistry(cap=2)
    assert reg.next_id == 1
    run, _dropped = reg.add(object(), object())
    assert run.id == 1 and reg.next_id == 2
