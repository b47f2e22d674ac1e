"""The process-wide training slots: cap, first-come queue, time slices, stale sessions."""

import random
import sys
import threading
import time

import pytest

from bptt.hosting.slots import TrainingSlots


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_at_most_capacity_sessions_train_and_the_rest_queue_in_order():
    slots = TrainingSlots(capacity=2, quantum=100, stale_after=100, clock=Clock())
    tickets = {s: slots.request(s) for s in "abcde"}
    assert [tickets[s].granted for s in "abcde"] == [True, True, False, False, False]
    assert [tickets[s].position for s in "cde"] == [1, 2, 3]
    assert slots.status().training == 2 and slots.status().waiting == 3


def test_release_hands_the_slot_to_the_head_of_the_queue():
    slots = TrainingSlots(capacity=1, quantum=100, stale_after=100, clock=Clock())
    slots.request("a")
    assert not slots.request("b").granted
    slots.release("a")
    assert slots.request("b").granted
    assert slots.request("a").position == 1  # a rejoins at the back


def test_time_slices_give_every_session_progress():
    clock = Clock()
    slots = TrainingSlots(capacity=2, quantum=5, stale_after=100, clock=clock)
    trained = {s: 0 for s in "abcdef"}
    for _ in range(60):  # 60 s of one tick per second per session
        for s in trained:
            if slots.request(s).granted:
                trained[s] += 1
        clock.now += 1
    assert all(n >= 10 for n in trained.values()), trained  # 2 slots x 60 s / 6 sessions = 20 each
    assert sum(trained.values()) <= 2 * 60


def test_a_holder_keeps_its_slot_while_nobody_waits():
    clock = Clock()
    slots = TrainingSlots(capacity=1, quantum=1, stale_after=100, clock=clock)
    for _ in range(10):
        assert slots.request("a").granted
        clock.now += 2


def test_a_closed_tab_loses_its_slot_after_stale_after():
    clock = Clock()
    slots = TrainingSlots(capacity=1, quantum=100, stale_after=5, clock=clock)
    slots.request("gone")
    assert not slots.request("b").granted
    clock.now += 6  # "gone" stopped ticking
    assert slots.request("b").granted
    assert slots.status().training == 1 and slots.status().waiting == 0


class YieldingDict(dict):
    """A dict that hands the interpreter to another thread whenever its size is read or it is written,
    and remembers the largest size it ever had: it forces the interleavings that a check-then-act on
    the slots' tables would lose to (`len(holders) < capacity`, then `holders[s] = now`)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.peak = len(self)

    def __len__(self):
        time.sleep(0)  # release the GIL between the check and the act
        return super().__len__()

    def __setitem__(self, key, value):
        time.sleep(0)
        super().__setitem__(key, value)
        self.peak = max(self.peak, super().__len__())


def test_concurrent_requests_and_releases_never_exceed_capacity():
    """Eight sessions in eight threads request and release at random for a few thousand calls, with
    the interpreter switching threads inside every size check and write of the holders' table. With
    the lock, at most `capacity` sessions ever hold a slot, no call fails, and every ticket agrees with
    the tables; without it, two threads grant the last slot together."""
    slots = TrainingSlots(capacity=2, quantum=0.002, stale_after=100)
    slots._holders = YieldingDict()
    errors, tickets = [], []
    start = threading.Barrier(8)

    def worker(name, seed):
        rng = random.Random(seed)
        start.wait()
        try:
            for _ in range(400):
                ticket = slots.request(name)
                tickets.append(ticket)
                if rng.random() < 0.3:
                    slots.release(name)
        except Exception as exc:  # a race shows as a KeyError from popping an emptied queue, too
            errors.append(repr(exc))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=worker, args=(f"s{i}", i)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    assert slots._holders.peak <= 2, f"{slots._holders.peak} sessions held a slot at once (capacity 2)"
    assert all(t.training <= 2 for t in tickets)
    assert all(t.position == 0 for t in tickets if t.granted)
    assert all(1 <= t.position <= t.waiting for t in tickets if not t.granted)
    assert sum(t.granted for t in tickets) > 100  # the slots were in use, not just refused
    assert not set(slots._holders) & set(slots._queue)


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        TrainingSlots(capacity=0)


def _simulate(slots, clock, sessions, until, dt=0.05):
    """Every session asks before each step, as the workers do, and keeps training: returns, per
    session, the times it was (re)granted and its queue positions while it waited."""
    granted = {s: [] for s in sessions}
    positions = {s: [] for s in sessions}
    holding = set()
    while clock.now < until:
        for s in sessions:
            t = slots.request(s)
            if t.granted and s not in holding:
                granted[s].append(clock.now)
                holding.add(s)
            elif not t.granted:
                holding.discard(s)
                positions[s].append(t.position)
        clock.now = round(clock.now + dt, 6)
    return granted, positions


@pytest.mark.parametrize("start", [0.0, 3.0])
def test_the_expected_wait_is_when_the_slot_comes_if_holders_keep_training(start):
    clock = Clock()
    slots = TrainingSlots(capacity=2, quantum=5, stale_after=100, clock=clock)
    slots.request("a")
    clock.now = start
    slots.request("b")  # holders whose slices end at different times
    tickets = {s: slots.request(s) for s in "cdef"}
    assert all(not t.granted and t.quantum == 5 for t in tickets.values())
    now = clock.now
    granted, _ = _simulate(slots, clock, "abcdef", until=now + 30)
    for s, t in tickets.items():
        actual = granted[s][0] - now
        assert abs(t.wait_s - actual) <= 0.06, (s, t.wait_s, actual)
    assert [round(tickets[s].wait_s, 6) for s in "cdef"] == sorted(
        round(t.wait_s, 6) for t in tickets.values()
    )


def test_a_waiting_session_only_moves_forward_in_the_queue():
    clock = Clock()
    slots = TrainingSlots(capacity=2, quantum=2, stale_after=100, clock=clock)
    sessions = "abcdefg"
    granted, positions = _simulate(slots, clock, sessions, until=40)
    for s in sessions:
        assert len(granted[s]) >= 3, s  # everyone gets turns
    # Between two turns, a session's place only decreases (it re-enters at the back after a turn).
    for s in sessions:
        runs, current = [], []
        for p in positions[s]:
            if current and p > current[-1]:
                runs.append(current)
                current = []
            current.append(p)
        runs.append(current)
        assert len(runs) <= len(granted[s]) + 1, (s, positions[s][:40])


def test_a_wait_reads_in_seconds_minutes_or_hours():
    from pages.ui.live import duration_text

    assert [duration_text(s) for s in (0.2, 42, 89, 600, 5399, 30_660)] == [
        "1 s", "42 s", "89 s", "10 min", "90 min", "8.5 h"
    ]  # fmt: skip


def test_the_expected_finish_stretches_the_remaining_training_by_the_sharing():
    from bptt.hosting.slots import Ticket, expected_finish

    # 30 s of training made 10 % of the run: 270 s of its own training are left; two slots shared by
    # six sessions train it a third of the time, after a 4 s wait.
    ticket = Ticket(False, 3, 4, 2, 4.0, 5.0)
    assert expected_finish(ticket, 30.0, 0.1) == pytest.approx(4.0 + 270.0 * 3)
    assert expected_finish(ticket, 0.0, 0.0) is None  # no measured speed yet
    assert expected_finish(Ticket(True, 0, 0, 1), 30.0, 0.1) is None  # it trains now
