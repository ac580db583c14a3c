"""Delayed actions run by one long-lived thread: a request's "still waiting" notice costs a
heap entry, not a thread start per request (a ``threading.Timer`` each did)."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class Alarm:
    """One pending action; :meth:`cancel` stops it unless it has already begun."""

    __slots__ = ("_action", "cancelled")

    def __init__(self, action: Callable[[], object]) -> None:
        self._action = action
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def ring(self) -> None:
        if not self.cancelled:
            self._action()


class AlarmClock:
    """Runs each alarm once its delay has passed on *clock*, from one daemon thread started
    on first use. Actions run in that thread, one after another: keep them short."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._changed = threading.Condition()
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()  # ties ring in the order they were set
        self._thread: threading.Thread | None = None

    def set(self, delay: float, action: Callable[[], object]) -> Alarm:
        """Run *action* in *delay* seconds."""
        alarm = Alarm(action)
        with self._changed:
            heapq.heappush(self._heap, (self._clock() + delay, next(self._order), alarm))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="alarm-clock",
                                                daemon=True)
                self._thread.start()
            elif self._heap[0][2] is alarm:  # earlier than what the thread waits for
                self._changed.notify()
        return alarm

    def wake(self) -> None:
        """Look at the clock again now (for a clock that is not ``time.monotonic``)."""
        with self._changed:
            self._changed.notify()

    def _run(self) -> None:
        while True:
            for alarm in self._due():
                alarm.ring()

    def _due(self) -> list[Alarm]:
        """Wait until an alarm not cancelled is due; take every due one off the heap."""
        with self._changed:
            while True:
                now = self._clock()
                due: list[Alarm] = []
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
                due = [alarm for alarm in due if not alarm.cancelled]
                if due:
                    return due
                self._changed.wait(self._heap[0][0] - now if self._heap else None)


ALARMS = AlarmClock()
"""The process's one alarm clock."""
