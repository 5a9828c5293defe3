"""The QEMU runner's hypercall workers: a thread per mailbox slot (one per cpu).

A host call may block for good (a read of a terminal, a flock the guest deadlocked
itself on), and the runner's main thread must go on serving the other cpus'
doorbells, the console, QEMU's end and the timeout.  So each slot's calls run on a
worker thread of that slot (a cpu waits for its one call at a time: they stay in
order), bare frames on one of their own.  The end of the guest (an exit status, an
error) goes back to the main thread through a queue and a wake-up pipe it polls.
Workers are daemon threads: one blocked in the host when the guest ends is left
behind, and what it finishes afterwards is dropped.  They block the signals the
main thread acts on (a signal sent to the process goes to any thread that takes it,
and Python runs handlers in the main thread only: it must be the one woken).
"""

from __future__ import annotations

import os
import queue
import signal
import threading

from .. import threadstart

TYPE_CHECKING = False  # typing costs start-up time; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable

    Job = Callable[[], "int | None"]


class Workers:
    def __init__(self) -> None:
        self.queues: dict[int, queue.SimpleQueue] = {}
        self.ended: queue.SimpleQueue = queue.SimpleQueue()  # a status or an exception
        # Readable when `ended` is not empty, or a signal came: see outcome().
        self.wake_r, self.wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.lock = threading.Lock()  # hand-overs against close(): never write a closed fd
        self.over = False
        try:
            self.old_wakeup: int | None = signal.set_wakeup_fd(self.wake_w,
                                                               warn_on_full_buffer=False)
        except ValueError:  # not the main thread: signals are not ours to handle
            self.old_wakeup = None

    def submit(self, key: int, job: Job) -> None:
        """Run job() on the worker for `key` (a slot; -1 for bare frames)."""
        q = self.queues.get(key)
        if q is None:
            q = self.queues[key] = queue.SimpleQueue()
            threadstart.start(threading.Thread(target=self._loop, args=(q,), daemon=True,
                                               name=f"hypercalls-{key}"))
        q.put(job)

    def backlog(self, key: int) -> int:
        """Jobs submitted for `key` and not yet taken up by its worker."""
        q = self.queues.get(key)
        return q.qsize() if q is not None else 0

    def _loop(self, q: queue.SimpleQueue) -> None:
        while True:
            job = q.get()
            if job is None or self.over:
                return
            try:
                outcome = job()
            except BaseException as e:  # noqa: BLE001 - handed to the main thread
                outcome = e
            if outcome is not None:
                self.hand_over(outcome)

    def hand_over(self, outcome: int | BaseException) -> None:
        with self.lock:
            if self.over:
                return
            self.ended.put(outcome)
            os.write(self.wake_w, b"\0")

    def outcome(self) -> int | BaseException | None:
        """What a worker handed over (the main thread calls this when wake_r is readable)."""
        try:
            os.read(self.wake_r, 4096)
        except BlockingIOError:
            pass
        # A signal may have woken us: run its Python handler now (it raises for SIGINT
        # and SIGTERM).  The interpreter would only look at the next bytecode check,
        # and in CPython 3.11 a worker taking the GIL can clear that check's flag, so
        # the handler of a signal that came while the main thread ran (not in poll)
        # waited for the next signal.  pthread_sigmask checks for signals explicitly.
        signal.pthread_sigmask(signal.SIG_BLOCK, ())
        try:
            return self.ended.get_nowait()
        except queue.Empty:
            return None

    def close(self) -> None:
        with self.lock:
            if self.over:
                return
            self.over = True
            if self.old_wakeup is not None:
                signal.set_wakeup_fd(self.old_wakeup)
            os.close(self.wake_r)
            os.close(self.wake_w)
        for q in self.queues.values():
            q.put(None)
