"""Ctrl-C, one way for every command: the work stops within a moment, whatever it is doing (issue 16).

Python runs a signal handler only in the main thread, and only between bytecodes: a main thread waiting in
DuckDB or in the Postgres driver would not run it until the query ended (hours, for a large one), and DuckDB
itself turns a KeyboardInterrupt raised inside a query into RuntimeError('Query interrupted'). So:
- `install` (the CLI, once) sets the SIGINT handler and a watcher thread woken through signal.set_wakeup_fd,
  which runs in C whatever the main thread is doing. The watcher interrupts every DuckDB connection and cancels
  every Postgres statement registered here (`register`, `on_cancel`); the blocked call returns with an error
  and the handler raises KeyboardInterrupt in the main thread.
- connections register where they are made (store.open_engine, catalogdb), so no command has to remember; one
  opened after the Ctrl-C raises KeyboardInterrupt at once, and the registered ones are interrupted again every
  `_REPEAT` s, so that no DuckDB work starts after it (no window in which the signal is lost).
- whatever error the stopped work raised is an interrupt (`is_interrupt`): the audit marks the level
  `interrupted` and the CLI prints `interrupted` and exits 130.
- `deferred` holds a Ctrl-C until a block of renames ends, so that a second one cannot cut them in half; and
  while a C extension initialises its module (the lazy `import duckdb` of a command): an exception raised in
  the Python code that duckdb's module init runs (its enums) aborts the process ("Critical nanobind error").
- what is raised is `Interrupted`, a KeyboardInterrupt to every `except`, but not that exact class: see there.
"""

from __future__ import annotations

import functools
import importlib.machinery
import signal
import socket
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar


class _Interruptible(Protocol):
    def interrupt(self) -> None: ...

    def close(self) -> None: ...


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, as raised here: caught as KeyboardInterrupt everywhere, but not of that exact class.

    CPython marks a KeyboardInterrupt of the exact class that leaves code run by exec() or eval() of a string
    (dataclass and namedtuple creation do that, at import) as unhandled, even when it is caught later; a
    `python -m` process then kills itself with SIGINT at exit, after its `interrupted` line (status -2 for its
    parent, not the 130 it exited with). A subclass is not marked.
    """


C = TypeVar("C", bound=_Interruptible)
_REPEAT = 0.2  # seconds between interrupts of the registered DuckDB connections once Ctrl-C was pressed


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self.cancels: dict[int, Callable[[], None]] = {}
        self.requested = threading.Event()
        self.installed = False
        self.held = 0  # depth of `deferred` blocks (main thread only)
        self.pending = False  # a Ctrl-C came while held
        self.previous: Any = None  # the handler before ours, put back by `uninstall`
        self.previous_fd = -1
        self.sockets: tuple[socket.socket, socket.socket] | None = None


_state = _State()
_EXTENSIONS = importlib.machinery.ExtensionFileLoader
_INIT = {name: getattr(_EXTENSIONS, name) for name in ("create_module", "exec_module")}  # where a module inits


def requested() -> bool:
    """Whether Ctrl-C was pressed (or a driver reported the user's cancel) in this process."""
    return _state.requested.is_set()


def installed() -> bool:
    """Whether `install` took over SIGINT in this process (the CLI does; a library caller may not)."""
    return _state.installed


def register(con: C) -> C:
    """Interrupt this DuckDB connection (or cursor) on Ctrl-C; after one, close it and raise Interrupted."""
    if requested():
        con.close()
        raise Interrupted
    with _state.lock:
        _state.connections.add(con)
    return con


def on_cancel(cancel: Callable[[], None]) -> Callable[[], None]:
    """Call `cancel` (a Postgres statement's) on Ctrl-C, from the watcher thread; returns what forgets it."""
    key = id(cancel)
    with _state.lock:
        _state.cancels[key] = cancel

    def forget() -> None:
        with _state.lock:
            _state.cancels.pop(key, None)

    return forget


def trip() -> None:
    """Do what Ctrl-C does: interrupt the registered connections and cancel the registered statements.

    The watcher calls it; so does the Postgres code when the driver's own handler caught the signal (it
    replaces ours during its calls) and reports the cancel as an error. Without `install` (a library caller's
    process, a test run) it does nothing: the caller's own Ctrl-C handling stands.
    """
    if not _state.installed:
        return
    _state.requested.set()
    _interrupt_connections()
    with _state.lock:
        cancels = list(_state.cancels.values())
    for cancel in cancels:
        try:
            cancel()
        except Exception:  # noqa: BLE001, S110 - a statement that already ended: nothing to cancel
            pass


def _interrupt_connections() -> None:
    with _state.lock:
        connections = list(_state.connections)
    for con in connections:
        try:
            con.interrupt()
        except Exception:  # noqa: BLE001, S110 - closed meanwhile
            pass


def is_interrupt(e: BaseException) -> bool:
    """Whether an error is (or was caused by) a Ctrl-C: KeyboardInterrupt, DuckDB's interrupt error in its forms
    (InterruptException; RuntimeError or OSError 'Query interrupted' from a query or an Arrow stream), or any
    error raised after Ctrl-C was pressed (the work it stopped failing)."""
    if isinstance(e, KeyboardInterrupt) or requested():
        return True
    text = str(e).strip()
    return type(e).__name__ == "InterruptException" or "INTERRUPT Error" in text or text.endswith("Query interrupted")


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a Ctrl-C until the block ends (renames that must not stop half-way); then raise it."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread gets KeyboardInterrupt
        yield
        return
    _state.held += 1
    try:
        yield
    finally:
        _unhold()


def _unhold() -> None:
    """End one hold; at the last, a Ctrl-C that came meanwhile is raised."""
    _state.held -= 1
    if not _state.held and _state.pending:
        _state.pending = False
        raise Interrupted


def _deferring(method: Callable[..., Any]) -> Callable[..., Any]:
    """`method` (an extension module's init step) run inside `deferred`."""

    @functools.wraps(method)
    def run(*args: Any) -> Any:
        with deferred():
            return method(*args)

    return run


def _on_sigint(signum: int, frame: Any) -> None:
    _state.requested.set()
    if _state.held:
        _state.pending = True
        return
    raise Interrupted


def _watch(reader: socket.socket) -> None:
    """The watcher thread: woken by the byte Python's C-level handler writes, whatever the main thread does."""
    while True:
        try:
            data = reader.recv(64)
        except TimeoutError:
            _interrupt_connections()  # once tripped: no DuckDB statement may start and run on
            continue
        except OSError:
            return
        if not data:  # uninstall closed the other end
            reader.close()
            return
        if signal.SIGINT in data:
            trip()
            reader.settimeout(_REPEAT)


def install(hold: bool = False) -> bool:
    """Take over SIGINT for this process (main thread only; again is a no-op); False when nothing was done.

    With `hold`, a Ctrl-C is only recorded until `release` (the CLI's start-up, before its error handling).
    """
    if _state.installed or threading.current_thread() is not threading.main_thread():
        return False
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    _state.sockets = (reader, writer)
    _state.installed = True
    _state.held += hold  # before the handler: a Ctrl-C already pending (below) must find it
    _state.previous = signal.signal(signal.SIGINT, _on_sigint)
    _state.previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    # A launcher may have blocked SIGINT until now (the tests do, for the interpreter's own start-up, which no
    # handler of ours can cover): one that came meanwhile is delivered now, to the handler above.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    for name, method in _INIT.items():
        setattr(_EXTENSIONS, name, _deferring(method))
    threading.Thread(target=_watch, args=(reader,), name="cnpj-duck-interrupts", daemon=True).start()
    return True


def release() -> None:
    """End the start-up hold of `install(hold=True)`: a Ctrl-C that came meanwhile is raised now."""
    if _state.held and threading.current_thread() is threading.main_thread():
        _unhold()


def hold() -> None:
    """From now on a Ctrl-C is only recorded: the command is ending (its last message would be cut)."""
    if threading.current_thread() is threading.main_thread():
        _state.held += 1


def finish() -> None:
    """The program is ending: ignore Ctrl-C from now on (Python restores the default action for its shutdown,
    which would kill the process with the command's work done and its output written)."""
    if _state.installed and threading.current_thread() is threading.main_thread():
        _state.held += 1
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def uninstall() -> None:
    """Put back the handler `install` replaced and forget every interrupt (a library caller's next command)."""
    if not _state.installed:
        return
    signal.set_wakeup_fd(_state.previous_fd)
    signal.signal(signal.SIGINT, _state.previous)
    for name, method in _INIT.items():
        setattr(_EXTENSIONS, name, method)
    assert _state.sockets is not None
    _state.sockets[1].close()  # the watcher reads the end of the stream, closes its side and returns
    _state.sockets = None
    _state.installed = False
    _state.held = 0
    _state.pending = False
    _state.requested.clear()
    with _state.lock:
        _state.cancels.clear()
