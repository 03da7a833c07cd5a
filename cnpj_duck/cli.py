"""The `cnpj-duck` command: thin shells over library calls; errors become one line and an exit code here."""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import EXIT_DATA, EXIT_INTERRUPTED, EXIT_USAGE, CnpjDuckError

_state: dict[str, Any] = {"debug": False, "argv": []}


def _config(ctx: click.Context, **overrides: Any) -> Any:
    from .config import load_config

    obj = ctx.find_root().obj
    return load_config(obj["config_path"], overrides={"data_dir": obj["data_dir"], **overrides})


def _progress_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--quiet", "-q", is_flag=True, help="Print only errors and the final summary.")(f)
    f = click.option("--no-progress", is_flag=True, help="Plain one-line events instead of progress bars.")(f)
    return f


def _reporter(no_progress: bool, quiet: bool) -> Any:
    """Rich bars on a terminal, plain lines otherwise (or when asked)."""
    from rich.console import Console

    from .console import PlainProgress, RichProgress

    console = Console(stderr=True)
    if no_progress or quiet or not console.is_terminal:
        return PlainProgress(sys.stderr, quiet=quiet)
    return RichProgress(console)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="cnpj-duck")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where raw zips, Parquet and the catalog live (default ./data; env CNPJ_DUCK_DATA_DIR).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The config.yaml to use (default ./config.yaml when present).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("--verbose", "-v", count=True, help="More detail on stderr (-v info, -vv debug).")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write JSON lines (time, level, run, table, file, batch, event, metrics) to this file.")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, config_path: Path | None, debug: bool, verbose: int,
        log_file: Path | None) -> None:
    """Turn the Receita Federal CNPJ open-data release into typed Parquet with DuckDB.

    \b
    Example:
      cnpj-duck build --sample        # generate and build the embedded sample release
      cnpj-duck build --release 2026-10
    """
    from .logs import setup_logging

    _state["debug"] = debug
    setup_logging(max(verbose, 2 if debug else 0), log_file)
    ctx.obj = {"data_dir": str(data_dir) if data_dir else None, "config_path": config_path}


@cli.command()
@click.option("--release", help="Month to build, YYYY-MM (default: the latest under <data_dir>/raw).")
@click.option("--source", type=click.Path(path_type=Path), help="Build the zips in this folder instead of raw/.")
@click.option("--tables", help="Comma-separated tables to build (default: all).")
@click.option("--force", is_flag=True, help="Rebuild every file even if its output is current.")
@click.option("--sample", is_flag=True, help="Build the embedded sample release (generated on first use).")
@click.option("--limit-rows", type=click.IntRange(min=1),
              help="Development: stop each file after about N rows (recorded as a partial run).")
@click.option("--max-files-per-table", type=click.IntRange(min=1),
              help="Development: only the first N files of each table (recorded as a partial run).")
@click.option("--download", is_flag=True, help="Download the release into <data_dir>/raw first, then build it.")
@_progress_options
@click.pass_context
def build(ctx: click.Context, release: str | None, source: Path | None, tables: str | None, force: bool,
          sample: bool, limit_rows: int | None, max_files_per_table: int | None, no_progress: bool,
          quiet: bool, download: bool) -> None:
    """Build a release of zips into Parquet under <data_dir>/parquet.

    \b
    Examples:
      cnpj-duck build --sample
      cnpj-duck build --release 2026-10 --tables empresas,estabelecimentos
      cnpj-duck build --source ~/Downloads/2026-10
      cnpj-duck build --limit-rows 10000 --max-files-per-table 1   # a quick try of a whole release
      cnpj-duck build --download --release latest   # fetch the newest month from the share, then build it
    """
    from rich.console import Console

    from .build import build as run_build
    from .console import RichProgress, summary_table
    from .source import sample_release

    config = _config(ctx, tables=tables, release=release)
    if download and (sample or source is not None):
        raise click.UsageError("--download fetches into <data_dir>/raw; it does not go with --sample or --source")
    if sample:
        if source is not None:
            raise click.UsageError("--sample and --source both name the input; pass one of them")
        source = sample_release(config.data_dir)
        release = None
    reporter = _reporter(no_progress, quiet)
    with reporter if isinstance(reporter, RichProgress) else contextlib.nullcontext():
        if download:
            release = _download_into_raw(config, release, reporter)
        summary = run_build(config, release=release, source=source, force=force, progress=reporter,
                            command=_command_line(), limit_rows=limit_rows, max_files=max_files_per_table)
    out = Console()
    if not out.is_terminal:
        out = Console(width=120)  # a pipe or a file: no terminal width to fit, keep the table readable
    out.print(summary_table(summary))
    if summary.failed:
        failed = [t.name for t in summary.tables if t.status != "succeeded" and t.status != "skipped"]
        if getattr(reporter, "errors_shown", 0):  # each error already had its line: do not print it twice
            what = f"{len(failed)} table{'s' * (len(failed) > 1)} ({', '.join(failed)})" if failed else "the run"
            raise CnpjDuckError(f"build of {summary.release} {summary.status}: {what}; the errors are above, "
                                f"and `cnpj-duck status --run {summary.run_id}` has the details")
        first = summary.errors[0] if summary.errors else f"see `cnpj-duck status --run {summary.run_id}`"
        raise CnpjDuckError(f"build of {summary.release} {summary.status}: {first}")


@cli.command()
@click.option("--release", default="2026-10", show_default=True, help="Release month to name the files after.")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True, max=2), default=0.0002, show_default=True,
              help="Fraction of a real release's row counts (1 = 57.6 M empresas, 66 M estabelecimentos).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed: same seed, same bytes.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the release folder <release>/ into (default <data_dir>/raw).")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Processes to use.")
@click.pass_context
def sample(ctx: click.Context, release: str, scale: float, seed: int, out: Path | None, workers: int) -> None:
    """Generate a synthetic release of 37 zips in the Receita's exact format, quirks included.

    \b
    Example:
      cnpj-duck sample --release 2026-10 --scale 0.01 --seed 1
    """
    from .layout import is_valid_release
    from .sample import generate_release

    if not is_valid_release(release):
        raise click.BadParameter(f"{release!r} is not a month as YYYY-MM", param_hint="--release")
    config = _config(ctx)
    manifest = generate_release(out or config.data_dir / "raw", release=release, scale=scale, seed=seed,
                                workers=workers)
    rows = sum(f.records for f in manifest.files)
    size = sum(f.uncompressed_bytes for f in manifest.files)
    zipped = sum(f.zipped_bytes for f in manifest.files)
    click.echo(f"{manifest.folder}: {len(manifest.files)} zips, {rows:,} records, {size / 1e6:,.1f} MB unzipped, "
               f"{zipped / 1e6:,.1f} MB zipped")


_SECRET_FLAGS = ("--dsn", "--token")


def _drop_stdout() -> None:
    """After a BrokenPipeError (`... | head`): point stdout at /dev/null so the exit flush cannot fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _command_line() -> str:
    """The command as typed, for the audit, with the values of secret flags and URL passwords replaced by ***."""
    from .logs import redact

    words: list[str] = []
    hide_next = False
    for word in _state["argv"]:
        if hide_next:
            word, hide_next = "***", False
        elif word in _SECRET_FLAGS:
            hide_next = True
        elif word.startswith(tuple(f + "=" for f in _SECRET_FLAGS)):
            word = word.split("=", 1)[0] + "=***"
        words.append(redact(word))
    return shlex.join(["cnpj-duck", *words])


_FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
                       help="A rich view for people, or JSON for programs (stable keys, see the README).")


_DECIMAL_MARK = "\u0000decimal:"


def _json(data: Any) -> None:
    """JSON for programs: dates in ISO 8601, decimals as exact numbers (1061004829.23, as `query` writes them)."""
    import json
    import re
    from decimal import Decimal

    def plain(value: Any) -> Any:
        if isinstance(value, Decimal) and value.is_finite():
            return f"{_DECIMAL_MARK}{value}"  # json has no exact decimal: marked, then written as a bare number
        return value.isoformat() if hasattr(value, "isoformat") else str(value)

    text = json.dumps(data, indent=2, default=plain, ensure_ascii=False)
    click.echo(re.sub(r'"\\u0000decimal:([-+0-9.E]+)"', r"\1", text))


@cli.command()
@click.option("--run", "run_id", type=int, help="The run to show (default: the last one).")
@_FORMAT
@click.pass_context
def status(ctx: click.Context, run_id: int | None, fmt: str) -> None:
    """Show a build's audit tree: run > table > file > batch, with rows, rejects, timings and errors.

    \b
    Examples:
      cnpj-duck status
      cnpj-duck status --run 3 --format json
    """
    from .audit import load_run
    from .catalogdb import open_catalog
    from .store import Store

    config = _config(ctx)
    with open_catalog(Store(config.data_dir), read_only=True) as con:
        run = load_run(con, run_id)
    if run is None:
        raise CnpjDuckError(f"no run {run_id} in the catalog" if run_id else "no run in the catalog yet")
    if fmt == "json":
        import json

        run["config"] = json.loads(run["config"]) if run.get("config") else None
        _json(run)
        return
    from rich.console import Console

    from .console import run_tree

    Console().print(run_tree(run))


@cli.command()
@click.option("--run", "run_id", type=int, help="The run (default: the last run that rejected records).")
@click.option("--table", help="Only this table's rejects.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most this many.")
@_FORMAT
@click.pass_context
def rejects(ctx: click.Context, run_id: int | None, table: str | None, limit: int, fmt: str) -> None:
    """List records that could not be parsed, with their file, line and reason.

    \b
    Examples:
      cnpj-duck rejects --table estabelecimentos
      cnpj-duck rejects --run 3 --format json --limit 1000
    """
    from .audit import load_rejects
    from .catalogdb import open_catalog
    from .store import Store

    config = _config(ctx)
    with open_catalog(Store(config.data_dir), read_only=True) as con:
        found = load_rejects(con, run_id, table, limit)
    if fmt == "json":
        _json(found)
        return
    from rich.console import Console

    from .console import rejects_table

    Console().print(rejects_table(found))


@cli.command("config")
@_FORMAT
@click.pass_context
def show_config(ctx: click.Context, fmt: str) -> None:
    """Print the effective configuration and where each value came from (secrets redacted).

    \b
    Example:
      CNPJ_DUCK_THREADS=1 cnpj-duck --config config.yaml config
    """
    config = _config(ctx)
    values = config.redacted()
    if fmt == "json":
        _json({key: {"value": value, "from": config.sources[key]} for key, value in values.items()})
        return
    for key, value in values.items():
        click.echo(f"{key} = {value}    # {config.sources[key]}")


@cli.command()
@click.argument("cnpjs", nargs=-1, required=True, metavar="CNPJ...")
@click.option("--release", help="Release to look in, YYYY-MM (default: the latest built).")
@_FORMAT
@click.pass_context
def lookup(ctx: click.Context, cnpjs: tuple[str, ...], release: str | None, fmt: str) -> None:
    """Show everything about establishments: company, partners, Simples/MEI, every code's description.

    A CNPJ may be typed with or without punctuation, in upper or lower case, numeric or alphanumeric; its check
    digits are verified (a wrong one exits 2). A CNPJ that is not in the release exits 1 after the others are shown.

    \b
    Examples:
      cnpj-duck lookup 12.345.678/0001-95
      cnpj-duck lookup 12345678000195 12.ABC.345/01DE-35 --format json
      cnpj-duck lookup 12abc34501de35 --release 2026-09
    """
    from .lookup import lookup as run_lookup

    results = run_lookup(_config(ctx), cnpjs, release)
    if fmt == "json":
        _json([r.to_dict() for r in results])
    else:
        from rich.console import Console

        from .console import lookup_panel

        console = Console()
        for result in results:
            if result.found:
                console.print(lookup_panel(result))
    missing = [r for r in results if not r.found]
    if missing:
        raise CnpjDuckError("; ".join(_not_found(r) for r in missing))


def _not_found(result: Any) -> str:
    from .cnpj import format_cnpj

    company = result.cnpj[:8]
    if result.establishments_of_company:
        head = f", head office {', '.join(map(format_cnpj, result.matriz_cnpj))}" if result.matriz_cnpj else ""
        return (f"CNPJ {result.formatted} not found in release {result.release}; its company {company} has "
                f"{result.establishments_of_company} establishment(s){head}")
    return f"CNPJ {result.formatted} not found in release {result.release} (nor any CNPJ of company {company})"


@cli.command()
@click.option("--from", "from_release", help="The older release, YYYY-MM (default: the built release before --to).")
@click.option("--to", "to_release", help="The newer release, YYYY-MM (default: the latest built release).")
@click.option("--table", "tables", help="Comma-separated tables to compare (default: every table built in both).")
@click.option("--records", is_flag=True,
              help="Print the differing records (table, status, key, changed columns) instead of the summary; "
                   "the summary then goes to stderr.")
@click.option("--status", "statuses", help="With --records: only these, comma-separated: new, removed, changed, "
                                           "duplicate.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "jsonl", "markdown", "parquet"]),
              default="table", show_default=True, help="As for `query`; csv, json, jsonl and parquet stream every row.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of stdout (needed for parquet).")
@click.option("--max-rows", type=click.IntRange(min=0), default=100, show_default=True,
              help="Rows shown by table and markdown (0: all).")
@click.pass_context
def diff(ctx: click.Context, from_release: str | None, to_release: str | None, tables: str | None, records: bool,
         statuses: str | None, fmt: str, output: Path | None, max_rows: int) -> None:
    """Compare two built releases: new, removed and changed records per table, and which columns changed.

    Records are matched by key: cnpj (estabelecimentos), cnpj_basico (empresas, simples), codigo (lookups),
    and company + document + name for socios. A key that repeats in either release is reported as `duplicate`,
    not matched.

    \b
    Examples:
      cnpj-duck diff
      cnpj-duck diff --from 2026-09 --to 2026-10 --table estabelecimentos --records --status new --format csv
      cnpj-duck diff --from 2026-09 --to 2026-10 --records --format parquet -o changes.parquet
    """
    from .config import split_list
    from .diff import STATUSES
    from .diff import diff as run_diff
    from .query import write_result

    wanted = split_list(statuses) if statuses else None
    if wanted and not records:
        raise click.UsageError("--status selects records: add --records")
    if wanted and set(wanted) - set(STATUSES):
        raise click.BadParameter(f"{', '.join(sorted(set(wanted) - set(STATUSES)))}: not one of "
                                 f"{', '.join(STATUSES)}", param_hint="--status")
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet writes a file: pass --output FILE")
    result = run_diff(_config(ctx), from_release, to_release, split_list(tables) if tables else None)
    with result:
        try:
            if records:
                written = write_result(result.records(wanted), fmt, sys.stdout, output, max_rows)
            else:
                people = fmt in ("table", "markdown")
                if people and output is None:
                    heading = f"diff {result.from_release} -> {result.to_release}"
                    click.echo(f"{'## ' if fmt == 'markdown' else ''}{heading}\n")
                written = write_result(result.summary_relation(for_people=people), fmt, sys.stdout, output, max_rows)
        except BrokenPipeError:  # `diff ... | head`: the reader has gone; stop quietly like other Unix tools
            _drop_stdout()
            return
        if records:  # the summary goes with the records, on stderr
            for line in result.lines():
                click.echo(line, err=True)
        else:
            if result.skipped:
                click.echo(result.lines()[-1], err=True)
            for t in result.summary():
                for note in t.notes:
                    click.echo(f"{t.table}: {note}", err=True)
    if written.output is not None:
        click.echo(f"wrote {written.rows:,} rows to {written.output}", err=True)


def _source_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--mirror", is_flag=True, default=None,
                     help="The base URL is a plain HTTP folder of YYYY-MM/ folders of zips, not the WebDAV share.")(f)
    f = click.option("--token", help="The share token, sent as the basic-auth user (config download.token).")(f)
    f = click.option("--base-url", help="Where the YYYY-MM/ folders are (config download.base_url).")(f)
    return f


def _source_config(ctx: click.Context, base_url: str | None, token: str | None, mirror: bool | None,
                   **overrides: Any) -> Any:
    return _config(ctx, **{"download.base_url": base_url, "download.token": token,
                           "download.mode": "mirror" if mirror else None}, **overrides)


def _download_failure(summary: Any, reporter: Any) -> CnpjDuckError:
    """One line for a download that did not succeed: exit 3 when every failure was the network's or server's."""
    from .errors import NetworkError

    failed = [f for f in summary.files if f.status == "failed"]
    kind = NetworkError if failed and all(f.network for f in failed) else CnpjDuckError
    what = f"{len(failed)} file{'s' * (len(failed) > 1)} ({', '.join(f.name for f in failed)})"
    if getattr(reporter, "errors_shown", 0):  # each error already had its line
        return kind(f"download of {summary.release} {summary.status}: {what}; the errors are above, and "
                    f"`cnpj-duck status --run {summary.run_id}` has the details")
    first = summary.errors[0] if summary.errors else f"see `cnpj-duck status --run {summary.run_id}`"
    return kind(f"download of {summary.release} {summary.status}: {first}")


def _download_line(summary: Any) -> str:
    fetched = sum(f.status == "succeeded" for f in summary.files)
    here = sum(f.status == "skipped" for f in summary.files)
    rate = summary.fetched / 1e6 / max(summary.seconds, 1e-6)
    return (f"download of {summary.release}: {summary.status} (run {summary.run_id}, {fetched} fetched, {here} already "
            f"here, {summary.fetched / 1e6:,.1f} MB in {summary.seconds:.1f}s, {rate:,.1f} MB/s)")


def _download_view(summary: Any) -> Any:
    """The files fetched or failed, one row each; the ones already here in one line."""
    from rich.console import Group
    from rich.table import Table

    lines: list[Any] = [_download_line(summary)]
    shown = [f for f in summary.files if f.status != "skipped"]
    if shown:
        table = Table(caption="MB fetched: bytes received now (a resumed file counts only the rest)",
                      caption_justify="left")
        for name, justify in (("file", "left"), ("status", "left"), ("MB", "right"), ("MB fetched", "right"),
                              ("s", "right"), ("MB/s", "right"), ("attempts", "right"), ("note", "left")):
            table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for f in shown:
            style = {"failed": "red", "interrupted": "red"}.get(f.status, "")
            table.add_row(f.name, f"[{style}]{f.status}[/{style}]" if style else f.status,
                          f"{(f.size or 0) / 1e6:,.1f}", f"{f.fetched / 1e6:,.1f}", f"{f.seconds:.1f}",
                          f"{f.fetched / 1e6 / max(f.seconds, 1e-6):,.1f}", str(f.attempts), f.error or f.note or "")
        lines.append(table)
    here = len(summary.files) - len(shown)
    if here:
        lines.append(f"[yellow]{here} file{'s' * (here > 1)} already complete here[/yellow] (same size and etag or "
                     "last-modified as on the server): not fetched again")
    if summary.missing:
        lines.append(f"[yellow]missing on the server:[/yellow] {', '.join(summary.missing)}")
    lines.append(f"in {summary.folder}")
    return Group(*lines)


def _download_into_raw(config: Any, release: str | None, reporter: Any) -> str:
    """`build --download`: fetch the release first; returns its month, or raises when a file failed."""
    from .download import download_release

    summary = download_release(config, release, progress=reporter, command=_command_line())
    reporter.message(_download_line(summary))
    if summary.failed:
        raise _download_failure(summary, reporter)
    return summary.release


@cli.command()
@_source_options
@click.option("--local", is_flag=True, help="The releases built here instead: rows per table, size, when built.")
@_FORMAT
@click.pass_context
def releases(ctx: click.Context, base_url: str | None, token: str | None, mirror: bool | None, local: bool,
             fmt: str) -> None:
    """List the months on the server with their file count and size (37 files make a complete month).

    \b
    Examples:
      cnpj-duck releases
      cnpj-duck releases --format json
      cnpj-duck releases --token NEWTOKEN   # after the Receita republished the share
      cnpj-duck releases --mirror --base-url https://mirror.example.org/cnpj/
      cnpj-duck releases --local            # what is built under <data_dir>/parquet
    """
    if local:
        _local_releases(_config(ctx), fmt)
        return
    from .download import list_releases, plain_url

    found = list_releases(_source_config(ctx, base_url, token, mirror),
                          notify=lambda text: click.echo(f"warning: {text}", err=True))
    if fmt == "json":
        _json([{"release": r.release, "files": len(r.files), "bytes": r.size, "missing": r.missing(),
                "url": plain_url(r.url)} for r in found])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for name, justify in (("release", "left"), ("files", "right"), ("MB", "right"), ("missing", "left")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in found:
        gone = r.missing()
        table.add_row(r.release, str(len(r.files)), f"{r.size / 1e6:,.1f}",
                      f"[yellow]{len(gone)}: {', '.join(gone)}[/yellow]" if gone else "")
    out = Console()
    out = out if out.is_terminal else Console(width=120)
    out.print(f"{len(found)} releases on {plain_url(_source_config(ctx, base_url, token, mirror).download_base_url)}",
              highlight=False)
    out.print(table)


def _local_releases(config: Any, fmt: str) -> None:
    from .catalog import local_releases

    found = local_releases(config.data_dir)
    if fmt == "json":
        _json([{"release": r.release, "rows": r.rows, "bytes": r.bytes,
                "tables": [{"table": t.name, "rows": t.rows, "files": t.files, "bytes": t.bytes,
                            "built_at": t.built_at, "run_id": t.run_id, "partial": t.partial} for t in r.tables]}
               for r in found])
        return
    from rich.console import Console

    from .console import local_releases_table

    out = Console()
    (out if out.is_terminal else Console(width=120)).print(local_releases_table(found, config.data_dir / "parquet"))


@cli.command()
@click.option("--release", help="Month to download, YYYY-MM, or 'latest' (default: config release).")
@click.option("--tables", help="Comma-separated families to download, e.g. empresas,cnaes (default: all).")
@_source_options
@_progress_options
@click.pass_context
def download(ctx: click.Context, release: str | None, tables: str | None, base_url: str | None, token: str | None,
             mirror: bool | None, no_progress: bool, quiet: bool) -> None:
    """Download a release's zips into <data_dir>/raw/YYYY-MM/: resumed, retried and CRC-verified.

    A zip is written to NAME.part and renamed only once complete and verified; an interrupted download
    (Ctrl-C, a lost network) resumes from its .part on the next run. Files already complete are not fetched again.

    \b
    Examples:
      cnpj-duck download                       # the latest month on the share
      cnpj-duck download --release 2026-10 --tables empresas,estabelecimentos
      cnpj-duck download --mirror --base-url https://mirror.example.org/cnpj/
    """
    from rich.console import Console

    from .console import RichProgress
    from .download import download_release

    config = _source_config(ctx, base_url, token, mirror, tables=tables, release=release)
    reporter = _reporter(no_progress, quiet)
    if isinstance(reporter, RichProgress):
        with reporter:
            summary = download_release(config, progress=reporter, command=_command_line())
    else:
        summary = download_release(config, progress=reporter, command=_command_line())
    out = Console()
    (out if out.is_terminal else Console(width=120)).print(_download_view(summary), highlight=False)
    if summary.failed:
        raise _download_failure(summary, reporter)


@cli.command()
@click.argument("sql", required=False)
@click.option("--file", "sql_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the SQL from this file.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "jsonl", "markdown", "parquet"]),
              default="table", show_default=True,
              help="table/markdown for people (first --max-rows rows); csv, json, jsonl, parquet stream every row.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of stdout (needed for parquet).")
@click.option("--release", help="Query this release, YYYY-MM, instead of each table's latest.")
@click.option("--max-rows", type=click.IntRange(min=0), default=100, show_default=True,
              help="Rows shown by table and markdown (0: all).")
@click.pass_context
def query(ctx: click.Context, sql: str | None, sql_file: Path | None, fmt: str, output: Path | None,
          release: str | None, max_rows: int) -> None:
    """Run SQL on the catalog: the output tables, their _history views, the enriched views and the audit tables.

    The SQL comes from the argument, from --file, or from stdin (`-` or a pipe). `cnpj-duck describe` lists
    what there is to query. A SQL error prints DuckDB's message and exits 1.

    \b
    Examples:
      cnpj-duck query "SELECT uf, count(*) AS n FROM estabelecimentos GROUP BY uf ORDER BY n DESC"
      cnpj-duck query --file q.sql --format csv > result.csv
      echo "SELECT * FROM motivos" | cnpj-duck query --format jsonl
      cnpj-duck query "SELECT * FROM estabelecimentos_completos WHERE uf = 'PE'" --format parquet -o pe.parquet
      cnpj-duck query --release 2026-09 "SELECT count(*) FROM empresas"
    """
    from .layout import is_valid_release
    from .query import connect, run_query, write_result

    if sql is not None and sql_file is not None:
        raise click.UsageError("pass the SQL as an argument or with --file, not both")
    if sql_file is not None:
        sql = sql_file.read_text(encoding="utf-8")
    elif sql == "-" or (sql is None and not sys.stdin.isatty()):
        sql = sys.stdin.read()
    elif sql is None:
        raise click.UsageError("no SQL: pass it as an argument, with --file, or on stdin")
    if release is not None and not is_valid_release(release):
        raise click.BadParameter(f"{release!r} is not a month as YYYY-MM", param_hint="--release")
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet writes a file: pass --output FILE")
    config = _config(ctx)
    from .store import Store, open_engine

    engine = open_engine(config.threads, config.memory_limit, Store(config.data_dir).tmp_dir)
    con = connect(config.data_dir, config.sql_dir, release, engine)
    try:
        result = run_query(con, sql, release, config.data_dir)
        try:
            written = write_result(result, fmt, sys.stdout, output, max_rows)
        except BrokenPipeError:  # `query ... | head`: the reader has gone; stop quietly like other Unix tools
            _drop_stdout()
            return
    finally:
        con.close()
    if written.output is not None:
        click.echo(f"wrote {written.rows:,} rows to {written.output}", err=True)


@cli.command()
@click.argument("table", required=False)
@_FORMAT
@click.pass_context
def describe(ctx: click.Context, table: str | None, fmt: str) -> None:
    """List the catalog's tables and views with their descriptions; with TABLE, its columns, types and meaning.

    The descriptions are the data dictionary, written next to the SQL that makes each column (sql/*.sql,
    sql/views/*.sql); DuckDB clients see them as comments (duckdb_views(), duckdb_columns()).

    \b
    Examples:
      cnpj-duck describe
      cnpj-duck describe estabelecimentos_completos
      cnpj-duck describe socios --format json
    """
    import dataclasses

    from .catalog import connect_reader, describe_catalog

    config = _config(ctx)
    con = connect_reader(config.data_dir, config.sql_dir, documented=True)
    try:
        objects = describe_catalog(con, config.sql_dir)
    finally:
        con.close()
    if table is not None:
        objects = [o for o in objects if o.name == table]
        if not objects:
            raise click.UsageError(f"no table or view {table!r} in the catalog; `cnpj-duck describe` lists them")
    if fmt == "json":
        found = [dataclasses.asdict(o) for o in objects]
        _json(found[0] if table is not None else found)
        return
    from rich.console import Console
    from rich.table import Table

    if table is None:
        grid = Table(title=f"{len(objects)} tables and views in {config.data_dir / 'cnpj.duckdb'}",
                     title_justify="left", caption="kind: table = an output table's latest release, history = "
                     "every release with a release column, view = sql/views/, audit = the build's audit trail",
                     caption_justify="left")
        for name, justify in (("name", "left"), ("kind", "left"), ("columns", "right"), ("description", "left")):
            grid.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for o in objects:
            grid.add_row(o.name, o.kind, str(len(o.columns)), o.description or "")
    else:
        o = objects[0]
        grid = Table(title=f"{o.name} ({o.kind}): {o.description or 'no description'}", title_justify="left")
        for name in ("column", "type", "description"):
            grid.add_column(name, overflow="fold")
        for c in o.columns:
            grid.add_row(c.name, c.type, c.description or "")
    out = Console()
    (out if out.is_terminal else Console(width=160)).print(grid)


@cli.group()
def export() -> None:
    """Export a built release to a database server.

    \b
    Examples:
      CNPJ_DUCK_PG_DSN=postgresql://me:secret@localhost:5432/dados cnpj-duck export postgres
      cnpj-duck export postgres --schema cnpj --tables empresas,estabelecimentos
    """


@export.command("postgres")
@click.option("--dsn", help="postgresql://user:password@host:5432/db (default: env CNPJ_DUCK_PG_DSN); never printed.")
@click.option("--schema", help="Postgres schema of the tables (default: export.schema in config.yaml, cnpj).")
@click.option("--tables", help="Comma-separated tables and views to export (default: every table built for the "
                               "release and the views of sql/views/).")
@click.option("--release", help="Release to export, YYYY-MM (default: the latest built).")
@click.option("--batch-rows", type=click.IntRange(min=1), default=None,
              help="Rows per Arrow batch sent to Postgres (default 16384); memory use grows with it.")
@_progress_options
@click.pass_context
def export_postgres(ctx: click.Context, dsn: str | None, schema: str | None, tables: str | None,
                    release: str | None, batch_rows: int | None, no_progress: bool, quiet: bool) -> None:
    """Load a built release into Postgres: typed, indexed, verified, and swapped in whole or not at all.

    Every table is loaded into a staging table, given its primary key (where the data has no repeated keys),
    indexes, statistics and comments, and counted against the Parquet; then all of them replace the live
    tables in one transaction. Readers keep seeing the previous tables until then; a failed or killed export
    leaves them as they were. Exit 3 when the server cannot be reached or refuses the login.

    \b
    Examples:
      export CNPJ_DUCK_PG_DSN=postgresql://me:secret@localhost:5432/dados
      cnpj-duck export postgres
      cnpj-duck export postgres --release 2026-10 --schema cnpj_2026_10
      cnpj-duck export postgres --tables estabelecimentos,estabelecimentos_completos --no-progress
    """
    from rich.console import Console

    from .config import split_list
    from .console import RichProgress
    from .export import DEFAULT_BATCH_ROWS
    from .export import export_postgres as run_export

    config = _config(ctx, **{"export.dsn": dsn, "export.schema": schema})
    if not config.export_dsn:
        raise click.UsageError("no Postgres DSN: pass --dsn postgresql://user:password@host:5432/db or set "
                               "CNPJ_DUCK_PG_DSN")
    reporter = _reporter(no_progress, quiet)
    kwargs = {"dsn": config.export_dsn, "schema": config.export_schema, "release": release,
              "tables": split_list(tables) if tables else None, "progress": reporter,
              "command": _command_line(), "batch_rows": batch_rows or DEFAULT_BATCH_ROWS}
    if isinstance(reporter, RichProgress):
        with reporter:
            summary = run_export(config, **kwargs)
    else:
        summary = run_export(config, **kwargs)
    out = Console()
    (out if out.is_terminal else Console(width=120)).print(_export_view(summary, config.export_dsn))


def _export_view(summary: Any, dsn: str) -> Any:
    """The export's summary: per table, rows, speed, primary key or the duplicates that prevented it."""
    from rich.table import Table

    from .export import describe_server

    grid = Table(title=f"release {summary.release} -> schema {summary.schema} at {describe_server(dsn)} "
                       f"(run {summary.run_id}, {summary.seconds:.1f}s; swapped in {summary.swap_seconds:.2f}s)",
                 title_justify="left", caption_justify="left",
                 caption="s: loading the rows; index s: primary key, indexes, ANALYZE, comments; indexes: besides "
                         "the primary key's; every row is kept, repeated keys included")
    for name, justify in (("table", "left"), ("rows", "right"), ("s", "right"), ("rows/s", "right"),
                          ("index s", "right"), ("primary key", "left"), ("indexes", "right")):
        grid.add_column(name, justify=justify)  # type: ignore[arg-type]
    for t in summary.tables:
        if t.primary_key:
            key = ", ".join(t.primary_key)
        elif t.duplicate_rows or t.null_keys:
            parts = [f"{t.duplicate_keys:,} repeated keys ({t.duplicate_rows:,} extra rows)" if t.duplicate_rows
                     else "", f"{t.null_keys:,} NULL keys" if t.null_keys else ""]
            key = "[yellow]no: " + ", ".join(filter(None, parts)) + "[/yellow]"
        else:
            key = "[dim]none[/dim]"
        name = t.name + (" [dim](view)[/dim]" if t.source == "view" else "")
        grid.add_row(name, f"{t.rows:,}", f"{t.seconds:.1f}", f"{t.rows_per_second:,.0f}", f"{t.index_seconds:.1f}",
                     key, str(len(t.indexes)))
    return grid


def _log_error(message: str, exc_info: bool = False) -> None:
    """The error also goes to --log-file, without printing it twice on stderr."""
    import logging

    for handler in logging.getLogger("cnpj_duck").handlers:
        if isinstance(handler, logging.FileHandler):
            record = logging.LogRecord("cnpj_duck.cli", logging.ERROR, __file__, 0, message, None,
                                       sys.exc_info() if exc_info else None)
            record.event = "error"
            handler.handle(record)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn every error into one line and an exit code."""
    _state["argv"] = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=argv, prog_name="cnpj-duck", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_USAGE if e.exit_code == 2 else e.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except CnpjDuckError as e:
        if _state["debug"]:
            traceback.print_exc()
        click.echo(f"error: {e}", err=True)
        _log_error(str(e))
        sys.exit(e.exit_code)
    except Exception as e:  # a bug, not bad input: still one line unless --debug
        if _state["debug"]:
            traceback.print_exc()
        click.echo(f"internal error: {type(e).__name__}: {e} (run with --debug for the traceback)", err=True)
        _log_error(f"internal error: {type(e).__name__}: {e}", exc_info=True)
        sys.exit(EXIT_DATA)
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main(os.sys.argv[1:])
