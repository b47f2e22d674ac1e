"""The process-wide training slots: cap, first-come queue, time slices, stale sessions."""

import threading

import pytest

from bptt.slots import TrainingSlots


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


def test_concurrent_requests_never_exceed_capacity():
    slots = TrainingSlots(capacity=2, quantum=0.001, stale_after=100)
    holding, peak, lock = set(), [0], threading.Lock()

    def worker(name):
        for _ in range(300):
            if slots.request(name).granted:
                with lock:
                    holding.add(name)
                    peak[0] = max(peak[0], slots.status().training)
                    holding.discard(name)

    threads = [threading.Thread(target=worker, args=(f"s{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 1 <= peak[0] <= 2


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        TrainingSlots(capacity=0)
