"""The `cnpj-duck` command: thin shells over library calls; errors become one line and an exit code here."""

from __future__ import annotations

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
@_progress_options
@click.pass_context
def build(ctx: click.Context, release: str | None, source: Path | None, tables: str | None, force: bool,
          sample: bool, limit_rows: int | None, max_files_per_table: int | None, no_progress: bool,
          quiet: bool) -> None:
    """Build a release of zips into Parquet under <data_dir>/parquet.

    \b
    Examples:
      cnpj-duck build --sample
      cnpj-duck build --release 2026-10 --tables empresas,estabelecimentos
      cnpj-duck build --source ~/Downloads/2026-10
      cnpj-duck build --limit-rows 10000 --max-files-per-table 1   # a quick try of a whole release
    """
    from rich.console import Console

    from .build import build as run_build
    from .build import sample_release
    from .console import RichProgress, summary_table

    config = _config(ctx, tables=tables, release=release)
    if sample:
        if source is not None:
            raise click.UsageError("--sample and --source both name the input; pass one of them")
        source = sample_release(config.data_dir)
        release = None
    reporter = _reporter(no_progress, quiet)
    if isinstance(reporter, RichProgress):
        with reporter:
            summary = run_build(config, release=release, source=source, force=force, progress=reporter,
                                command=_command_line(), limit_rows=limit_rows, max_files=max_files_per_table)
    else:
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


def _command_line() -> str:
    """The command as typed, for the audit (no secret is ever passed on the command line of build)."""
    return shlex.join(["cnpj-duck", *_state["argv"]])


_FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
                       help="A rich view for people, or JSON for programs (stable keys, see the README).")


def _json(data: Any) -> None:
    import json

    def plain(value: Any) -> Any:
        return value.isoformat() if hasattr(value, "isoformat") else str(value)

    click.echo(json.dumps(data, indent=2, default=plain, ensure_ascii=False))


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
    from .build import open_catalog

    config = _config(ctx)
    con = open_catalog(config.data_dir, read_only=True)
    try:
        run = load_run(con, run_id)
    finally:
        con.close()
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
    from .build import open_catalog

    config = _config(ctx)
    con = open_catalog(config.data_dir, read_only=True)
    try:
        found = load_rejects(con, run_id, table, limit)
    finally:
        con.close()
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
