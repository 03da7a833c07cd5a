"""What the user sees while a command runs: the rich progress display or the plain one-line mode, and where the
final view is printed. The views themselves are in views.py."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.table import Column
from rich.text import Text


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _sizes(done: float, total: float | None) -> str:
    scale, unit = next(
        ((f, u) for f, u in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")) if (total or done) >= f), (1.0, "bytes")
    )
    if unit == "bytes":
        return f"{done:,.0f}/{total:,.0f} bytes" if total else f"{done:,.0f} bytes"
    return f"{done / scale:,.1f}/{total / scale:,.1f} {unit}" if total else f"{done / scale:,.1f} {unit}"


class _StatsColumn(ProgressColumn):
    """Bytes, MB/s, rows, rows/s, rejects, elapsed and ETA in one column.

    One Text per line instead of six rich columns: a refresh costs about 40% less, which is what keeps the
    display under 2% of a build's time (scripts/bench.py --progress-cost).
    """

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True, overflow="ellipsis"))  # a narrow terminal crops

    def render(self, task: Task) -> Text:
        f = task.fields
        if f.get("unit") != "bytes":  # a task counted in rows (an export): its bar moves by rows
            done = f"{task.completed:,.0f}/{task.total:,.0f}" if task.total else f"{task.completed:,.0f}"
            text = Text(f"{done:>21} rows {(task.speed or 0):>9,.0f} rows/s", no_wrap=True)
            text.append(f"  {_clock(task.elapsed)} eta {_clock(task.time_remaining)}")
            return text
        speed = (task.speed or 0) / 1e6
        text = Text(f"{_sizes(task.completed, task.total):>17} {speed:5,.1f} MB/s", no_wrap=True)
        if f.get("rows"):
            text.append(f" {f['rows']:>11,} rows {f['rate']:>8} rows/s")
        if f.get("rejects"):
            text.append(f" {f['rejects']:,} rejected", style="red")
        text.append(f"  {_clock(task.elapsed)} eta {_clock(task.time_remaining)}")
        return text


class RichProgress:
    """Draws the progress protocol with rich: an overall bar by input bytes, and a line per active file."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars = Progress(
            TextColumn("{task.description}", style="bold"),
            BarColumn(bar_width=30),
            _StatsColumn(),
            console=console,
            transient=False,
            refresh_per_second=5,  # smooth enough to read, and each refresh costs about 2 ms of one core
        )
        self.lock = threading.Lock()  # files report from parallel worker threads
        self.tasks: dict[str, TaskID] = {}
        self.started: dict[str, float] = {}
        self.rows: dict[str, int] = {}
        self.rejects: dict[str, int] = {}
        self.errors_shown = 0  # the CLI's last line only summarises errors that were already shown

    def __enter__(self) -> RichProgress:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def start(self, task: str, *, total: int | None = None, unit: str = "rows", **info: Any) -> None:
        with self.lock:
            self._start(task, total, unit, info)

    def _start(self, task: str, total: int | None, unit: str, info: dict[str, Any]) -> None:
        label = task
        if "release" in info:
            label = f"release {info['release']}" if task == "build" else f"{task} {info['release']}"
        self.tasks[task] = self.bars.add_task(label, total=total, rows=0, rate="", rejects=0, unit=unit)
        self.started[task] = time.monotonic()
        self.rows[task] = 0
        self.rejects[task] = 0

    def advance(self, task: str, amount: int = 0, **metrics: Any) -> None:
        with self.lock:
            self._advance(task, amount, metrics)

    def _advance(self, task: str, amount: int, metrics: dict[str, Any]) -> None:
        if task not in self.tasks:
            return
        self.rows[task] += metrics.get("rows", 0)
        self.rejects[task] += metrics.get("rejected", 0)
        if task == "build":  # the overall line sums the files' rows
            self.rows["build"] = sum(v for k, v in self.rows.items() if k != "build")
            self.rejects["build"] = sum(v for k, v in self.rejects.items() if k != "build")
        elapsed = max(time.monotonic() - self.started[task], 1e-6)
        self.bars.update(
            self.tasks[task],
            advance=amount,
            rows=self.rows[task],
            rate=f"{self.rows[task] / elapsed:,.0f}",
            rejects=self.rejects[task],
        )

    def finish(self, task: str, *, status: str = "succeeded", **metrics: Any) -> None:
        with self.lock:
            self._finish(task)

    def _finish(self, task: str) -> None:
        if task not in self.tasks:
            return
        if task == "build":
            self.bars.update(self.tasks[task], completed=self.bars.tasks[self.tasks[task]].total)
            return
        if task == "download":
            return  # the overall download line stays, showing what it reached
        self.bars.remove_task(self.tasks.pop(task))

    def message(self, text: str, *, level: str = "info") -> None:
        self.errors_shown += level == "error"
        style = {"error": "red", "warning": "yellow"}.get(level, "")
        self.console.print(f"[{style}]{level}:[/{style}] {text}" if style else text, markup=True, highlight=False)


class PlainProgress:
    """One line per event, for logs and pipes (no terminal, or --no-progress)."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.started: dict[str, float] = {}
        self.rows: dict[str, int] = {}
        self.transfers: dict[str, list[float]] = {}  # download tasks: [total bytes, bytes so far, last line printed]
        self.errors_shown = 0

    def __enter__(self) -> PlainProgress:
        return self  # nothing to start or stop: `with` works for either display

    def __exit__(self, *exc: object) -> None:
        pass

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def start(self, task: str, *, total: int | None = None, unit: str = "rows", **info: Any) -> None:
        self.started[task] = time.monotonic()
        self.rows[task] = 0
        if info.get("kind") == "transfer":  # a download: bytes and MB/s, no rows
            self.transfers[task] = [float(total or 0), 0.0, time.monotonic()]
            if not self.quiet and task == "download":
                self._print(
                    f"start download of release {info.get('release', '?')}, run {info.get('run_id', '?')} "
                    f"({info.get('files', '?')} files, {(total or 0) / 1e6:,.1f} MB to fetch)"
                )
            return
        if not self.quiet and task == "build":
            size = f" ({total / 1e6:,.1f} MB unzipped)" if total and unit == "bytes" else ""
            self._print(f"start {task} of release {info.get('release', '?')}, run {info.get('run_id', '?')}{size}")

    def advance(self, task: str, amount: int = 0, **metrics: Any) -> None:
        if task in self.transfers:
            state = self.transfers[task]
            state[1] += amount
            now = time.monotonic()
            if task == "download" and not self.quiet and now - state[2] >= PLAIN_EVERY:
                state[2] = now  # a line now and then, so that a log shows a long download moving
                self._print(f"download: {_transfer_line(state[0], state[1], now - self.started[task])}")
            return
        self.rows[task] = self.rows.get(task, 0) + metrics.get("rows", 0)

    def finish(self, task: str, *, status: str = "succeeded", **metrics: Any) -> None:
        if self.quiet:
            return
        seconds = time.monotonic() - self.started.get(task, time.monotonic())
        if task in self.transfers:
            done = self.transfers.pop(task)[1]
            if metrics.get("note"):  # a file not fetched: say why, not 0.0 MB/s
                self._print(f"{status} {task}: {metrics['note']}")
                return
            self._print(
                f"{status} {task}: {done / 1e6:,.1f} MB in {seconds:.1f}s ({done / 1e6 / max(seconds, 1e-6):,.1f} MB/s)"
            )
            return
        rows = metrics.get("rows", self.rows.get(task, 0))
        if task == "build":
            rows = sum(v for k, v in self.rows.items() if k != "build")
        extra = f", {metrics['rejected']:,} rejected" if metrics.get("rejected") else ""
        self._print(f"{status} {task}: {rows:,} rows{extra} in {seconds:.1f}s")

    def message(self, text: str, *, level: str = "info") -> None:
        if not self.quiet or level == "error":
            self.errors_shown += level == "error"
            self._print(f"{level}: {text}")


PLAIN_EVERY = 10.0  # seconds between the plain progress lines of a download


def _transfer_line(total: float, done: float, seconds: float) -> str:
    """'45.0% of 12.3 MB, 1.2 MB/s, ETA 6s': a plain progress line of a download."""
    rate = done / max(seconds, 1e-6)
    eta = f", ETA {(total - done) / rate:,.0f}s" if rate > 0 and total > done else ""
    share = f"{100 * done / total:.1f}% of {total / 1e6:,.1f} MB" if total else f"{done / 1e6:,.1f} MB"
    return f"{share}, {rate / 1e6:,.1f} MB/s{eta}"


def progress_display(no_progress: bool, quiet: bool) -> RichProgress | PlainProgress:
    """Rich bars on a terminal, plain lines otherwise (or when asked); either is used as `with display:`."""
    console = Console(stderr=True)
    if no_progress or quiet or not console.is_terminal:
        return PlainProgress(sys.stderr, quiet=quiet)
    return RichProgress(console)


def show(view: Any, *, width: int | None = 120, highlight: bool = True) -> None:
    """Print a view on stdout; a pipe or a file gets `width` columns (it has no terminal width to fit), so that
    a table stays readable. width=None prints as wide as rich guesses. A view may be a function of the width it
    gets (to switch to a record layout when narrow). A pipe never gets trailing spaces: rich pads each line to
    the width it lays out, which a terminal hides and a file keeps."""
    out = Console()
    terminal = out.is_terminal
    if width is not None and not terminal:
        out = Console(width=width)
    renderable = view(out.width) if callable(view) else view
    if terminal:
        out.print(renderable, highlight=highlight)
        return
    with out.capture() as captured:
        out.print(renderable, highlight=highlight)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    sys.stdout.flush()
