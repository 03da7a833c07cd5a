"""The rich renderings of results: the build and export summaries, the audit tree, rejects, lookups, releases,
downloads and the catalog's tables. Only the CLI uses them (core modules never import rich)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.tree import Tree

from .build import BuildSummary
from .cnpj import format_cnpj


def summary_table(summary: BuildSummary) -> Table:
    """The per-table summary printed at the end of a build."""
    partial = " [yellow]partial: a development run[/yellow]" if summary.partial else ""
    table = Table(
        caption="written: rows written now; nulled: values that did not cast (dates, decimals); "
        "in output: rows in the table's Parquet; MB: Parquet written now",
        caption_justify="left",
        title=f"release {summary.release}: {summary.status} (run {summary.run_id}, {summary.seconds:.1f}s){partial}",
        title_justify="left",
    )
    for name, justify in (
        ("table", "left"),
        ("status", "left"),
        ("files", "right"),
        ("written", "right"),
        ("rejected", "right"),
        ("nulled", "right"),
        ("in output", "right"),
        ("s", "right"),
        ("MB", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for t in summary.tables:
        style = {"failed": "red", "skipped": "yellow"}.get(t.status, "")
        table.add_row(
            t.name,
            f"[{style}]{t.status}[/{style}]" if style else t.status,
            str(t.files),
            f"{t.rows_written:,}",
            f"{t.rows_rejected:,}",
            f"{sum(t.values_nulled.values()):,}",
            f"{t.rows_in_output:,}",
            f"{t.seconds:.1f}",
            f"{t.parquet_bytes / 1e6:,.1f}",
        )
    return table


_STYLE = {
    "failed": "red",
    "interrupted": "red",
    "abandoned": "red",
    "skipped": "yellow",
    "running": "cyan",
    "succeeded": "green",
}


def _status(status: str) -> str:
    style = _STYLE.get(status, "")
    return f"[{style}]{status}[/{style}]" if style else status


def _level(row: dict[str, Any], name: str) -> str:
    seconds = (row["finished_at"] - row["started_at"]).total_seconds() if row.get("finished_at") else None
    took = f", {seconds:.1f}s" if seconds is not None else ""
    if not row["rows_read"] and row.get("bytes_in"):  # a download moves bytes, not rows
        text = f"{name} {_status(row['status'])}: {row['bytes_in'] / 1e6:,.1f} MB fetched{took}"
    else:
        text = (
            f"{name} {_status(row['status'])}: {row['rows_read']:,} read, {row['rows_written']:,} written, "
            f"{row['rows_rejected']:,} rejected{took}"
        )
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


def records(title: str | None, headers: list[str], rows: list[list[str]]) -> Group:
    """Rows as records, one `header  value` line per field and a blank line between records: the layout of a
    table that does not fit the width (a cut name or a record folded into a narrow column reads badly)."""
    parts: list[Any] = [f"[bold]{title}[/bold]"] if title else []
    for n, row in enumerate(rows):
        grid = Table(box=None, show_header=False, padding=(0, 1, 0, 0), pad_edge=False)
        grid.add_column(style="cyan", no_wrap=True)
        grid.add_column(overflow="fold")
        for header, cell in zip(headers, row, strict=True):
            if cell:
                grid.add_row(header, cell)
        parts += [grid] if n == len(rows) - 1 else [grid, ""]
    return Group(*parts)


def fits(table: Table, width: int) -> bool:
    """Whether a table shows every cell unwrapped in `width` columns."""
    console = Console(width=100_000)  # measured unbounded: rich clamps a measurement to the console's width
    return Measurement.get(console, console.options, table).maximum <= width


def _cut(text: str, limit: int) -> str:
    """Text cut at `limit` characters, with an ellipsis that says so."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rejects_table(rows: list[dict[str, Any]], width: int = 120) -> Table | Group:
    """Rejected records with their file, line and reason; as records when the table does not fit `width`."""
    run = rows[0]["run_id"] if rows else None
    title = f"rejects of run {run}" if run else "no rejects"
    headers = ["table", "zip", "line", "reason", "raw"]
    cells = [
        [r["table_name"], r["zip_name"], f"{r['line']:,}" if r["line"] else "?", r["reason"], _cut(r["raw"], 200)]
        for r in rows
    ]
    table = Table(title=title, title_justify="left")
    for name in headers:
        table.add_column(name, overflow="fold", no_wrap=name in ("table", "zip", "line"))
    for row in cells:
        table.add_row(*row)
    return table if not rows or fits(table, width) else records(title, headers, cells)


def runs_table(runs: list[dict[str, Any]]) -> Table:
    """The runs, newest first, one line each."""
    table = Table(title="runs, newest first" if runs else "no run in the catalog yet", title_justify="left")
    for name in ("run", "command", "release", "status", "written", "rejected", "started", "duration"):
        table.add_column(name, justify="right" if name in ("run", "written", "rejected", "duration") else "left")
    for r in runs:
        duration = f"{float(r['duration_s']):.1f} s" if r["duration_s"] is not None else "-"
        command = r["command"].removeprefix("cnpj-duck ")  # every run's: it only costs width
        table.add_row(
            str(r["run_id"]),
            command,
            r["release"] or "-",
            r["status"],
            f"{r['rows_written']:,}",
            f"{r['rows_rejected']:,}",
            f"{r['started_at']:%Y-%m-%d %H:%M}",
            duration,
        )
    return table


def _shown(v: Any) -> str:
    """A value by its type: only a real bool is yes/no (Decimal('0.00') == False, so no dict lookup; issue 12)."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return str(v)


def lookup_panel(result: Any, width: int = 120) -> Panel:
    """A panel per establishment: its fields, its company's, Simples/MEI, partners and secondary CNAEs; the
    partners as records when their table does not fit `width`."""

    def value(row: dict[str, Any], name: str, codes: bool = True) -> str:
        v = row[name]
        shown = _shown(v)
        if name + "_descricao" in row:  # an orphan code (missing from its lookup) says so
            described = row[name + "_descricao"] or "(no description: code missing from its lookup)"
            return f"{shown} - {described}" if codes else described
        return shown

    def fields(title: str, row: dict[str, Any], skip: tuple[str, ...] = ("cnpj_basico",)) -> Table:
        grid = Table(title=title, title_justify="left", title_style="bold", box=None, show_header=False, padding=(0, 1))
        grid.add_column(style="cyan", no_wrap=True)
        grid.add_column()
        for name in row:
            if row[name] is not None and not name.endswith("_descricao") and name not in skip:
                grid.add_row(name, value(row, name))
        return grid

    def rows_of(title: str, rows: tuple[dict[str, Any], ...], skip: tuple[str, ...] = ("cnpj_basico",)) -> list[Any]:
        if not rows:
            return [f"[bold]{title}[/]: [dim]no row in this release[/]"]
        return [
            fields(title if len(rows) == 1 else f"{title} (row {n} of {len(rows)}: the key repeats)", row, skip)
            for n, row in enumerate(rows, 1)
        ]

    parts: list[Any] = rows_of("Estabelecimento", result.estabelecimentos, skip=("cnae_fiscal_secundaria",))
    head = ", ".join(format_cnpj(c) for c in result.matriz_cnpj) or "none"
    parts.append(f"[dim]{result.establishments_of_company} establishment(s) of this company; head office: {head}[/]")
    parts += rows_of("Empresa", result.empresas) + rows_of("Simples / MEI", result.simples)
    if result.socios:
        socios = Table(title="Socios", title_justify="left", title_style="bold", box=box.SIMPLE_HEAD)
        shown = {
            "nome_socio_razao_social": "nome",
            "identificador_socio": "tipo",
            "cnpj_cpf_socio": "documento",
            "qualificacao_socio": "qualificacao",
            "data_entrada_sociedade": "entrada",
            "faixa_etaria": "idade",
            "pais": "pais",
            "nome_representante": "representante",
            "qualificacao_representante_legal": "qualif. representante",
        }
        names = [n for n in shown if any(r[n] is not None for r in result.socios)]
        if all(r["nome_representante"] is None for r in result.socios):  # '00 Nao informada' says nothing then
            names.remove("qualificacao_representante_legal")
        for name in names:  # documents and dates are read whole; names and descriptions wrap
            whole = name in ("cnpj_cpf_socio", "data_entrada_sociedade")
            socios.add_column(shown[name], no_wrap=whole, min_width=14 if name == "cnpj_cpf_socio" else None)
        cells = [
            [value(row, n, codes=n == "qualificacao_socio") if row[n] is not None else "" for n in names]
            for row in result.socios
        ]
        for row in cells:
            socios.add_row(*row)
        inner = width - 4  # the panel's border and padding
        parts.append(socios if fits(socios, inner) else records("Socios", [shown[n] for n in names], cells))
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
    if getattr(result, "privacy", False):
        from .privacy import SUMMARY

        parts.append(f"[dim]{SUMMARY} (--privacy)[/]")
    estab = result.estabelecimentos[0]
    status = estab.get("situacao_cadastral_descricao") or estab.get("situacao_cadastral") or ""
    kind = estab.get("identificador_matriz_filial_descricao") or ""
    title = f"[bold]{result.formatted}[/] {kind} {status} (release {result.release})"
    return Panel(Group(*parts), title=title, title_align="left")


def local_releases_table(found: list[Any], folder: Path) -> Table:
    """The releases built under <data_dir>/parquet: per table, rows, files, MB, when built, run."""
    title = f"{len(found)} release{'s' * (len(found) != 1)} built under {folder}"
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("release", "left"),
        ("table", "left"),
        ("rows", "right"),
        ("files", "right"),
        ("MB", "right"),
        ("built", "left"),
        ("run", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in found:
        for i, t in enumerate(r.tables):
            built = t.built_at.strftime("%Y-%m-%d %H:%M") if t.built_at else "?"
            table.add_row(
                r.release if i == 0 else "",
                t.name,
                f"{t.rows:,}" if t.rows is not None else "?",
                str(t.files),
                f"{t.bytes / 1e6:,.1f}",
                built + (" (partial)" if t.partial else ""),
                str(t.run_id or ""),
            )
        table.add_row(
            "",
            "[bold]all[/bold]",
            f"[bold]{r.rows:,}[/bold]",
            "",
            f"[bold]{r.bytes / 1e6:,.1f}[/bold]",
            "",
            "",
            end_section=True,
        )
    return table


def export_view(summary: Any, server: str) -> Table:
    """The export's summary: per table, rows, speed, primary key or the duplicates that prevented it."""
    grid = Table(
        title=f"release {summary.release} -> schema {summary.schema} at {server} "
        f"(run {summary.run_id}, {summary.seconds:.1f}s; swapped in {summary.swap_seconds:.2f}s)",
        title_justify="left",
        caption_justify="left",
        caption="replaced: rows of the live table it replaced, and the change; s: loading the rows; index s: "
        "primary key, indexes, ANALYZE, comments; indexes: besides the primary key's; every row is kept, repeated "
        "keys included" + _privacy_caption(summary),
    )
    for name, justify in (
        ("table", "left"),
        ("rows", "right"),
        ("replaced", "right"),
        ("s", "right"),
        ("rows/s", "right"),
        ("index s", "right"),
        ("primary key", "left"),
        ("indexes", "right"),
    ):
        grid.add_column(name, justify=justify)  # type: ignore[arg-type]
    for t in summary.tables:
        if t.primary_key:
            key = ", ".join(t.primary_key)
        elif t.duplicate_rows or t.null_keys:
            parts = [
                f"{t.duplicate_keys:,} repeated keys ({t.duplicate_rows:,} extra rows)" if t.duplicate_rows else "",
                f"{t.null_keys:,} NULL keys" if t.null_keys else "",
            ]
            key = "[yellow]no: " + ", ".join(filter(None, parts)) + "[/yellow]"
        else:
            key = "[dim]none[/dim]"
        name = t.name + (" [dim](view)[/dim]" if t.source == "view" else "")
        was = t.rows_replaced
        change = f" ({(t.rows - was) / was:+.1%})" if was else ""
        grid.add_row(
            name,
            f"{t.rows:,}",
            "[dim]new[/dim]" if was is None else f"{was:,}{change}",
            f"{t.seconds:.1f}",
            f"{t.rows_per_second:,.0f}",
            f"{t.index_seconds:.1f}",
            key,
            str(len(t.indexes)),
        )
    return grid


def _privacy_caption(summary: Any) -> str:
    """What an export's caption says when it applied the privacy rules (privacy.SUMMARY)."""
    from .privacy import SUMMARY

    return f"\n[bold]{SUMMARY}[/bold] (--privacy)" if summary.privacy else ""


def handover_view(summary: Any) -> Table:
    """A hand-over file's summary (export duckdb, export sqlite): per table, rows, speed, index time."""
    grid = Table(
        title=f"release {summary.release} -> {summary.path} ({summary.format}, {summary.bytes / 1e6:,.1f} MB; "
        f"run {summary.run_id}, {summary.seconds:.1f}s)",
        title_justify="left",
        caption_justify="left",
        caption="s: loading the rows; index s: indexes and comments; rows are counted against the Parquet's "
        "manifests" + (f"; views: {', '.join(summary.views)}" if summary.views else "") + _privacy_caption(summary),
    )
    for name, justify in (
        ("table", "left"),
        ("rows", "right"),
        ("s", "right"),
        ("rows/s", "right"),
        ("index s", "right"),
        ("indexes", "right"),
    ):
        grid.add_column(name, justify=justify)  # type: ignore[arg-type]
    for t in summary.tables:
        grid.add_row(
            t.name,
            f"{t.rows:,}",
            f"{t.seconds:.1f}",
            f"{t.rows_per_second:,.0f}",
            f"{t.index_seconds:.1f}",
            str(len(t.indexes)),
        )
    return grid


def download_line(summary: Any) -> str:
    """One line for a download: status, run, files fetched and already here, MB and MB/s."""
    fetched = sum(f.status == "succeeded" for f in summary.files)
    here = sum(f.status == "skipped" for f in summary.files)
    rate = summary.fetched / 1e6 / max(summary.seconds, 1e-6)
    return (
        f"download of {summary.release}: {summary.status} (run {summary.run_id}, {fetched} fetched, {here} already "
        f"here, {summary.fetched / 1e6:,.1f} MB in {summary.seconds:.1f}s, {rate:,.1f} MB/s)"
    )


def download_view(summary: Any) -> Group:
    """The files fetched or failed, one row each; the ones already here in one line."""
    lines: list[Any] = [download_line(summary)]
    shown = [f for f in summary.files if f.status != "skipped"]
    if shown:
        table = Table(
            caption="MB fetched: bytes received now (a resumed file counts only the rest)", caption_justify="left"
        )
        for name, justify in (
            ("file", "left"),
            ("status", "left"),
            ("MB", "right"),
            ("MB fetched", "right"),
            ("s", "right"),
            ("MB/s", "right"),
            ("attempts", "right"),
            ("note", "left"),
        ):
            table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for f in shown:
            style = {"failed": "red", "interrupted": "red"}.get(f.status, "")
            table.add_row(
                f.name,
                f"[{style}]{f.status}[/{style}]" if style else f.status,
                f"{(f.size or 0) / 1e6:,.1f}",
                f"{f.fetched / 1e6:,.1f}",
                f"{f.seconds:.1f}",
                f"{f.fetched / 1e6 / max(f.seconds, 1e-6):,.1f}",
                str(f.attempts),
                f.error or f.note or "",
            )
        lines.append(table)
    here = len(summary.files) - len(shown)
    if here:
        lines.append(
            f"[yellow]{here} file{'s' * (here > 1)} already complete here[/yellow] (same size and etag or "
            "last-modified as on the server): not fetched again"
        )
    if summary.missing:
        lines.append(f"[yellow]missing on the server:[/yellow] {', '.join(summary.missing)}")
    lines.append(f"in {summary.folder}")
    return Group(*lines)


def releases_view(found: list[Any], url: str) -> Group:
    """The months on the server: files, MB, and the files a month lacks."""
    table = Table()
    for name, justify in (("release", "left"), ("files", "right"), ("MB", "right"), ("missing", "left")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in found:
        gone = r.missing()
        table.add_row(
            r.release,
            str(len(r.files)),
            f"{r.size / 1e6:,.1f}",
            f"[yellow]{len(gone)}: {', '.join(gone)}[/yellow]" if gone else "",
        )
    return Group(f"{len(found)} releases on {url}", table)


def catalog_view(objects: list[Any], path: Path) -> Table:
    """The catalog's tables and views with their kind, column count and description."""
    grid = Table(
        title=f"{len(objects)} tables and views in {path}",
        title_justify="left",
        caption="kind: table = an output table's latest release, history = "
        "every release with a release column, view = sql/views/, audit = the build's audit trail; "
        "from: packaged = the SQL that comes with cnpj-duck, else your file (sql_dir)",
        caption_justify="left",
    )
    for name, justify in (
        ("name", "left"),
        ("kind", "left"),
        ("columns", "right"),
        ("from", "left"),
        ("description", "left"),
    ):
        grid.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for o in objects:
        grid.add_row(o.name, o.kind, str(len(o.columns)), o.source or "", o.description or "")
    return grid


def columns_view(o: Any) -> Table:
    """One table's or view's columns, types and meaning."""
    origin = f", from {o.source}" if o.source else ""
    grid = Table(title=f"{o.name} ({o.kind}{origin}): {o.description or 'no description'}", title_justify="left")
    for name in ("column", "type", "description"):
        grid.add_column(name, overflow="fold")
    for c in o.columns:
        grid.add_row(c.name, c.type, c.description or "")
    return grid
