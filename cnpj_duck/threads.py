"""The two ways work runs on threads here, once each: reading ahead of a consumer, and a pool of file workers.

Both wait in short timed steps: Python runs a signal handler only in the main thread, and only between
bytecodes; a main thread blocked in an untimed wait would not see a Ctrl-C that the kernel gave to another
thread (DuckDB's, a download's) until the wait ended.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
_STEP = 0.1  # seconds between looks at a stop flag or a Ctrl-C


@dataclass(frozen=True)
class _Raised:
    error: BaseException


class _Done:
    pass


@dataclass
class _Slot(Generic[T]):
    item: T


def prefetch(items: Iterator[T], depth: int = 2, name: str = "cnpj-duck-read") -> Generator[T, None, None]:
    """Run an iterator in a thread, up to `depth` items ahead of the consumer (reading overlaps the work on what
    was read); an error in the thread is raised where the consumer reaches it. Closing the result stops it."""
    slots: queue.Queue[_Slot[T] | _Raised | _Done] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: _Slot[T] | _Raised | _Done) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=_STEP)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(_Slot(item)):
                    return
        except BaseException as e:  # handed to the consumer, which raises it
            put(_Raised(e))
            return
        put(_Done())

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        while True:
            try:
                got = slots.get(timeout=_STEP)  # timed, like every wait here (see the module's doc)
            except queue.Empty:
                continue
            if isinstance(got, _Done):
                return
            if isinstance(got, _Raised):
                raise got.error
            yield got.item
    finally:
        stop.set()
        while thread.is_alive():
            thread.join(_STEP)
        close = getattr(items, "close", None)
        if close is not None:
            close()


def run_pool(calls: Sequence[Callable[[], R]], workers: int, name: str, on_interrupt: Callable[[], None]) -> list[R]:
    """Run the calls `workers` at a time and return their results in order; on Ctrl-C call `on_interrupt` (which
    tells the workers to stop), wait for them and re-raise."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        futures = [pool.submit(call) for call in calls]
        try:
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=_STEP * 2)
            return [future.result() for future in futures]
        except KeyboardInterrupt:
            on_interrupt()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
