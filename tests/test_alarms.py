"""The one alarm clock: alarms ring once due, in order, never before, never when cancelled,
all from one thread (a fake clock drives it: no wall-clock waits)."""

from __future__ import annotations

import threading

from harness.util.alarms import AlarmClock

GUARD = 60.0  # only against a hang when broken; nothing here waits for time to pass


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _settled(clock: AlarmClock) -> None:
    """Return once the clock's thread has looked at the time as it is now: an alarm due at
    once rings after every earlier one."""
    done = threading.Event()
    clock.set(0.0, done.set)
    assert done.wait(GUARD)


def test_alarms_ring_in_order_once_due_and_not_before() -> None:
    time = FakeClock()
    clock = AlarmClock(time)
    rang: list[str] = []
    clock.set(10.0, lambda: rang.append("ten"))
    clock.set(5.0, lambda: rang.append("five"))
    time.now = 9.9
    clock.wake()
    _settled(clock)
    assert rang == ["five"]
    time.now = 10.0
    clock.wake()
    _settled(clock)
    assert rang == ["five", "ten"]


def test_a_cancelled_alarm_never_rings() -> None:
    time = FakeClock()
    clock = AlarmClock(time)
    rang: list[str] = []
    clock.set(1.0, lambda: rang.append("cancelled")).cancel()
    clock.set(2.0, lambda: rang.append("kept"))
    time.now = 5.0
    clock.wake()
    _settled(clock)
    assert rang == ["kept"]


def test_many_alarms_share_one_thread() -> None:
    time = FakeClock()
    clock = AlarmClock(time)
    threads: set[int] = set()
    for delay in range(50):
        clock.set(float(delay), lambda: threads.add(threading.get_ident()))
    time.now = 50.0
    clock.wake()
    _settled(clock)
    assert len(threads) == 1 and threading.get_ident() not in threads
