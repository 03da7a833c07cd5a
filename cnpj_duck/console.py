"""What the user sees: the rich progress display, the plain one-line mode, and the build summary."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.table import Column, Table
from rich.text import Text
from rich.tree import Tree

from .build import BuildSummary
from .cnpj import format_cnpj


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _sizes(done: float, total: float | None) -> str:
    scale, unit = next(((f, u) for f, u in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")) if (total or done) >= f),
                       (1.0, "bytes"))
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
        self.bars.update(self.tasks[task], advance=amount, rows=self.rows[task],
                         rate=f"{self.rows[task] / elapsed:,.0f}", rejects=self.rejects[task])

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

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def start(self, task: str, *, total: int | None = None, unit: str = "rows", **info: Any) -> None:
        self.started[task] = time.monotonic()
        self.rows[task] = 0
        if info.get("kind") == "transfer":  # a download: bytes and MB/s, no rows
            self.transfers[task] = [float(total or 0), 0.0, time.monotonic()]
            if not self.quiet and task == "download":
                self._print(f"start download of release {info.get('release', '?')}, run {info.get('run_id', '?')} "
                            f"({info.get('files', '?')} files, {(total or 0) / 1e6:,.1f} MB to fetch)")
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
            self._print(f"{status} {task}: {done / 1e6:,.1f} MB in {seconds:.1f}s "
                        f"({done / 1e6 / max(seconds, 1e-6):,.1f} MB/s)")
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


def summary_table(summary: BuildSummary) -> Table:
    """The per-table summary printed at the end of a build."""
    partial = " [yellow]partial: a development run[/yellow]" if summary.partial else ""
    table = Table(caption="written: rows written now; nulled: values that did not cast (dates, decimals); "
                  "in output: rows in the table's Parquet; MB: Parquet written now",
                  caption_justify="left", title=f"release {summary.release}: {summary.status} (run {summary.run_id}, "
                        f"{summary.seconds:.1f}s){partial}", title_justify="left")
    for name, justify in (("table", "left"), ("status", "left"), ("files", "right"), ("written", "right"),
                          ("rejected", "right"), ("nulled", "right"), ("in output", "right"),
                          ("s", "right"), ("MB", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for t in summary.tables:
        style = {"failed": "red", "skipped": "yellow"}.get(t.status, "")
        table.add_row(
            t.name, f"[{style}]{t.status}[/{style}]" if style else t.status, str(t.files),
            f"{t.rows_written:,}", f"{t.rows_rejected:,}", f"{sum(t.values_nulled.values()):,}",
            f"{t.rows_in_output:,}", f"{t.seconds:.1f}", f"{t.parquet_bytes / 1e6:,.1f}",
        )
    return table


_STYLE = {"failed": "red", "interrupted": "red", "abandoned": "red", "skipped": "yellow", "running": "cyan",
          "succeeded": "green"}


def _status(status: str) -> str:
    style = _STYLE.get(status, "")
    return f"[{style}]{status}[/{style}]" if style else status


def _level(row: dict[str, Any], name: str) -> str:
    seconds = (row["finished_at"] - row["started_at"]).total_seconds() if row.get("finished_at") else None
    took = f", {seconds:.1f}s" if seconds is not None else ""
    if not row["rows_read"] and row.get("bytes_in"):  # a download moves bytes, not rows
        text = f"{name} {_status(row['status'])}: {row['bytes_in'] / 1e6:,.1f} MB fetched{took}"
    else:
        text = (f"{name} {_status(row['status'])}: {row['rows_read']:,} read, {row['rows_written']:,} written, "
                f"{row['rows_rejected']:,} rejected{took}")
    if row.get("note"):
        text += f" [dim]({row['note']})[/dim]"
    if row.get("error"):
        text += f"\n[red]{row['error']}[/red]"
    return text


def run_tree(run: dict[str, Any]) -> Tree:
    """The audit hierarchy of one run as a tree; succeeded batches are summarised, others listed."""
    tree = Tree(_level(run, f"run {run['run_id']} ({run['command']}, release {run['release']})"))
    for table in run["tables"]:
        branch = tree.add(_level(table, f"[bold]{table['table_name']}[/bold]"))
        for file in table["files"]:
            leaf = branch.add(_level(file, file["zip_name"]))
            batches = file["batches"]
            ok = [b for b in batches if b["status"] == "succeeded"]
            if ok:
                plural = "batch" if len(ok) == 1 else "batches"
                leaf.add(f"{len(ok)} {plural} succeeded, lines {ok[0]['first_line']:,}-{ok[-1]['last_line']:,}")
            for b in batches:
                if b["status"] != "succeeded":
                    leaf.add(_level(b, f"batch {b['seq']} (from line {b['first_line']:,})"))
    return tree


def rejects_table(rows: list[dict[str, Any]]) -> Table:
    """Rejected records with their file, line and reason."""
    run = rows[0]["run_id"] if rows else None
    table = Table(title=f"rejects of run {run}" if run else "no rejects", title_justify="left")
    for name in ("table", "zip", "line", "reason", "raw"):
        table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(r["table_name"], r["zip_name"], f"{r['line']:,}" if r["line"] else "?", r["reason"],
                      r["raw"][:200])
    return table


def lookup_panel(result: Any) -> Panel:
    """A panel per establishment: its fields, its company's, Simples/MEI, partners and secondary CNAEs."""
    def value(row: dict[str, Any], name: str, codes: bool = True) -> str:
        v = row[name]
        shown = ", ".join(map(str, v)) if isinstance(v, list) else {True: "yes", False: "no"}.get(v, str(v))
        if name + "_descricao" in row:  # an orphan code (missing from its lookup) says so
            described = row[name + "_descricao"] or "(no description: code missing from its lookup)"
            return f"{shown} - {described}" if codes else described
        return shown

    def fields(title: str, row: dict[str, Any], skip: tuple[str, ...] = ("cnpj_basico",)) -> Table:
        grid = Table(title=title, title_justify="left", title_style="bold", box=None, show_header=False,
                     padding=(0, 1))
        grid.add_column(style="cyan", no_wrap=True)
        grid.add_column()
        for name in row:
            if row[name] is not None and not name.endswith("_descricao") and name not in skip:
                grid.add_row(name, value(row, name))
        return grid

    def rows_of(title: str, rows: tuple[dict[str, Any], ...], skip: tuple[str, ...] = ("cnpj_basico",)) -> list[Any]:
        if not rows:
            return [f"[bold]{title}[/]: [dim]no row in this release[/]"]
        return [fields(title if len(rows) == 1 else f"{title} (row {n} of {len(rows)}: the key repeats)", row, skip)
                for n, row in enumerate(rows, 1)]

    parts: list[Any] = rows_of("Estabelecimento", result.estabelecimentos, skip=("cnae_fiscal_secundaria",))
    head = ", ".join(format_cnpj(c) for c in result.matriz_cnpj) or "none"
    parts.append(f"[dim]{result.establishments_of_company} establishment(s) of this company; head office: {head}[/]")
    parts += rows_of("Empresa", result.empresas) + rows_of("Simples / MEI", result.simples)
    if result.socios:
        socios = Table(title="Socios", title_justify="left", title_style="bold", box=box.SIMPLE_HEAD)
        shown = {"nome_socio_razao_social": "nome", "identificador_socio": "tipo", "cnpj_cpf_socio": "documento",
                 "qualificacao_socio": "qualificacao", "data_entrada_sociedade": "entrada", "faixa_etaria": "idade",
                 "pais": "pais", "nome_representante": "representante",
                 "qualificacao_representante_legal": "qualif. representante"}
        names = [n for n in shown if any(r[n] is not None for r in result.socios)]
        if all(r["nome_representante"] is None for r in result.socios):  # '00 Nao informada' says nothing then
            names.remove("qualificacao_representante_legal")
        for name in names:  # documents and dates are read whole; names and descriptions wrap
            whole = name in ("cnpj_cpf_socio", "data_entrada_sociedade")
            socios.add_column(shown[name], no_wrap=whole, min_width=14 if name == "cnpj_cpf_socio" else None)
        for row in result.socios:
            socios.add_row(*(value(row, n, codes=n == "qualificacao_socio") if row[n] is not None else ""
                             for n in names))
        parts.append(socios)
    else:
        parts.append("[bold]Socios[/]: [dim]none[/]")
    if result.cnaes_secundarias:
        cnaes = Table(title="CNAEs secundarias", title_justify="left", title_style="bold", box=box.SIMPLE_HEAD)
        cnaes.add_column("codigo")
        cnaes.add_column("descricao")
        for row in result.cnaes_secundarias:
            cnaes.add_row(row["codigo"], row["descricao"] or "(no description: code missing from cnaes)")
        parts.append(cnaes)
    else:
        parts.append("[bold]CNAEs secundarias[/]: [dim]none[/]")
    parts.extend(f"[yellow]warning: {w}[/]" for w in result.warnings())
    estab = result.estabelecimentos[0]
    status = estab.get("situacao_cadastral_descricao") or estab.get("situacao_cadastral") or ""
    kind = estab.get("identificador_matriz_filial_descricao") or ""
    title = f"[bold]{result.formatted}[/] {kind} {status} (release {result.release})"
    return Panel(Group(*parts), title=title, title_align="left")


def local_releases_table(found: list[Any], folder: Path) -> Table:
    """The releases built under <data_dir>/parquet: per table, rows, files, MB, when built, run."""
    title = f"{len(found)} release{'s' * (len(found) != 1)} built under {folder}"
    table = Table(title=title, title_justify="left")
    for name, justify in (("release", "left"), ("table", "left"), ("rows", "right"), ("files", "right"),
                          ("MB", "right"), ("built", "left"), ("run", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in found:
        for i, t in enumerate(r.tables):
            built = t.built_at.strftime("%Y-%m-%d %H:%M") if t.built_at else "?"
            table.add_row(r.release if i == 0 else "", t.name, f"{t.rows:,}" if t.rows is not None else "?",
                          str(t.files), f"{t.bytes / 1e6:,.1f}", built + (" (partial)" if t.partial else ""),
                          str(t.run_id or ""))
        table.add_row("", "[bold]all[/bold]", f"[bold]{r.rows:,}[/bold]", "", f"[bold]{r.bytes / 1e6:,.1f}[/bold]",
                      "", "", end_section=True)
    return table
