"""The `cnpj-duck` command: thin shells over library calls; errors become one line and an exit code here."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

from . import interrupts

# Run as the program (its script, python -m cnpj_duck, python -m cnpj_duck.cli), not imported: take over Ctrl-C
# before the imports, which take a tenth of a second; one pressed meanwhile waits for main's error handling.
_MAIN_SPEC = getattr(sys.modules.get("__main__"), "__spec__", None)
if Path(sys.argv[0]).name == "cnpj-duck" or getattr(_MAIN_SPEC, "name", "").startswith("cnpj_duck"):
    interrupts.install(hold=True)

import click  # noqa: E402

from . import __version__  # noqa: E402
from .cli_common import (  # noqa: E402
    FORMAT,
    command_line,
    config_of,
    fail_if_failed,
    print_json,
    progress_options,
    state,
)
from .cli_download import download, releases  # noqa: E402
from .cli_export import export  # noqa: E402
from .cli_read import describe, diff, lookup, query, rejects, runs, search, status  # noqa: E402
from .cli_serve import serve  # noqa: E402
from .errors import EXIT_DATA, EXIT_INTERRUPTED, EXIT_USAGE, CnpjDuckError  # noqa: E402

# What an interrupted command says before its `interrupted` line (the last line, for scripts).
_HANDED_OVER = (
    "the file is renamed into place only when complete: a previous one is as it was; run the same command again "
    "to export"
)
_AFTER_INTERRUPT = {
    "build": "to resume, run the same command again: the files that finished are kept",
    "download": "to resume, run the same command again: the files that finished are kept, and the one cut off "
    "continues from its .part file",
    "export postgres": "the tables in Postgres are as they were, or all new: an export is swapped in whole or not "
    "at all; run the same command again to export",
    "export duckdb": _HANDED_OVER,
    "export sqlite": _HANDED_OVER,
}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="cnpj-duck")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where raw zips, Parquet and the catalog live (default ./data; env CNPJ_DUCK_DATA_DIR).",
)
@click.option(
    "--sql-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A folder of your own SQL files, added to or replacing the packaged ones by path (env CNPJ_DUCK_SQL_DIR).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The config.yaml to use (default ./config.yaml when present).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("--verbose", "-v", count=True, help="More detail on stderr (-v info, -vv debug).")
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write JSON lines (time, level, run, table, file, batch, event, metrics) to this file.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    data_dir: Path | None,
    sql_dir: Path | None,
    config_path: Path | None,
    debug: bool,
    verbose: int,
    log_file: Path | None,
) -> None:
    """Turn the Receita Federal CNPJ open-data release into typed Parquet with DuckDB.

    \b
    Example:
      cnpj-duck build --sample        # generate and build the embedded sample release
      cnpj-duck build --release 2026-10
    """
    from .logs import setup_logging

    state["debug"] = debug
    state["command"] = ctx.invoked_subcommand
    setup_logging(max(verbose, 2 if debug else 0), log_file)
    ctx.obj = {
        "data_dir": str(data_dir) if data_dir else None,
        "sql_dir": str(sql_dir) if sql_dir else None,
        "config_path": config_path,
    }


# The commands that read what was built, those that talk to the server, the export group and the HTTP server.
for _command in (status, runs, rejects, describe, query, diff, lookup, search, releases, download, export, serve):
    cli.add_command(_command)


@cli.command()
@click.option("--release", help="Month to build, YYYY-MM (default: the latest under <data_dir>/raw).")
@click.option("--source", type=click.Path(path_type=Path), help="Build the zips in this folder instead of raw/.")
@click.option("--tables", help="Comma-separated tables to build (default: all).")
@click.option("--force", is_flag=True, help="Rebuild every file even if its output is current.")
@click.option("--sample", is_flag=True, help="Build the embedded sample release (generated on first use).")
@click.option(
    "--limit-rows",
    type=click.IntRange(min=1),
    help="Development: stop each file after about N rows (recorded as a partial run).",
)
@click.option(
    "--max-files-per-table",
    type=click.IntRange(min=1),
    help="Development: only the first N files of each table (recorded as a partial run).",
)
@click.option("--download", is_flag=True, help="Download the release into <data_dir>/raw first, then build it.")
@progress_options
@click.pass_context
def build(
    ctx: click.Context,
    release: str | None,
    source: Path | None,
    tables: str | None,
    force: bool,
    sample: bool,
    limit_rows: int | None,
    max_files_per_table: int | None,
    no_progress: bool,
    quiet: bool,
    download: bool,
) -> None:
    """Build a release of zips into Parquet under <data_dir>/parquet.

    \b
    Examples:
      cnpj-duck build --sample
      cnpj-duck build --release 2026-10 --tables empresas,estabelecimentos
      cnpj-duck build --source ~/Downloads/2026-10
      cnpj-duck build --limit-rows 10000 --max-files-per-table 1   # a quick try of a whole release
      cnpj-duck build --download --release latest   # fetch the newest month from the share, then build it
    """
    from .build import build as run_build
    from .console import progress_display, show
    from .source import sample_release
    from .views import summary_table

    config = config_of(ctx, tables=tables, release=release)
    if download and (sample or source is not None):
        raise click.UsageError("--download fetches into <data_dir>/raw; it does not go with --sample or --source")
    if sample and source is not None:
        raise click.UsageError("--sample and --source both name the input; pass one of them")
    if sample:
        source, release = sample_release(config.data_dir), None
    with progress_display(no_progress, quiet) as reporter:
        if download:
            release = _download_into_raw(config, release, reporter)
        summary = run_build(
            config,
            release=release,
            source=source,
            force=force,
            progress=reporter,
            command=command_line(),
            limit_rows=limit_rows,
            max_files=max_files_per_table,
        )
    show(summary_table(summary))
    fail_if_failed(summary, reporter)


def _download_into_raw(config: Any, release: str | None, reporter: Any) -> str:
    """`build --download`: fetch the release first; returns its month, or raises when a file failed."""
    from .download import download_release
    from .views import download_line

    summary = download_release(config, release, progress=reporter, command=command_line())
    reporter.message(download_line(summary))
    fail_if_failed(summary, reporter)
    return summary.release


@cli.command()
@click.option("--release", default="2026-10", show_default=True, help="Release month to name the files after.")
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True, max=2),
    default=0.0002,
    show_default=True,
    help="Fraction of a real release's row counts (1 = 57.6 M empresas, 66 M estabelecimentos).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed: same seed, same bytes.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the release folder <release>/ into (default <data_dir>/raw).",
)
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
    config = config_of(ctx)
    manifest = generate_release(
        out or config.data_dir / "raw", release=release, scale=scale, seed=seed, workers=workers
    )
    rows = sum(f.records for f in manifest.files)
    size = sum(f.uncompressed_bytes for f in manifest.files)
    zipped = sum(f.zipped_bytes for f in manifest.files)
    click.echo(
        f"{manifest.folder}: {len(manifest.files)} zips, {rows:,} records, {size / 1e6:,.1f} MB unzipped, "
        f"{zipped / 1e6:,.1f} MB zipped"
    )


@cli.command()
@click.option("--keep", type=click.IntRange(min=1), required=True, help="Built releases to keep, the newest.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed, remove nothing.")
@click.pass_context
def prune(ctx: click.Context, keep: int, dry_run: bool) -> None:
    """Remove built releases beyond the newest N (their Parquet and manifests); the audit rows stay.

    The release a Postgres schema was last exported from is kept whatever --keep says.

    \b
    Examples:
      cnpj-duck prune --keep 3 --dry-run
      cnpj-duck prune --keep 3
    """
    from .prune import prune as run_prune

    result = run_prune(config_of(ctx), keep, dry_run)
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {', '.join(result.removed) or 'nothing'} ({result.freed_bytes / 1e6:,.1f} MB); "
        f"kept {', '.join(result.kept) or 'nothing'}"
    )
    for release, why in result.protected.items():
        click.echo(f"kept {release} beyond --keep {keep}: {why}", err=True)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


@cli.command("config")
@FORMAT
@click.pass_context
def show_config(ctx: click.Context, fmt: str) -> None:
    """Print the effective configuration and where each value came from (secrets redacted).

    \b
    Example:
      CNPJ_DUCK_THREADS=1 cnpj-duck --config config.yaml config
    """
    config = config_of(ctx)
    values = config.redacted()
    if fmt == "json":
        print_json({key: {"value": value, "from": config.sources[key]} for key, value in values.items()})
        return
    for key, value in values.items():
        click.echo(f"{key} = {value}    # {config.sources[key]}")


@cli.group()
def sql() -> None:
    """The SQL files that make the tables: packaged with cnpj-duck, and your own over them (sql_dir).

    A file in sql_dir is added to the packaged ones, or replaces the one at the same relative path
    (<table>.sql, views/<name>.sql, checks/<check>.sql, _macros.sql); `describe` says which file each table
    comes from.

    \b
    Example:
      cnpj-duck sql init my-sql        # then edit my-sql/, and set sql_dir: my-sql in config.yaml
    """


@sql.command("init")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files that are already in FOLDER.")
def sql_init(folder: Path, force: bool) -> None:
    """Copy the packaged SQL files into FOLDER to edit them; then point sql_dir at it.

    \b
    Examples:
      cnpj-duck sql init my-sql
      cnpj-duck --sql-dir my-sql build --sample
    """
    from .sqlfiles import init_sql

    done = init_sql(folder, force)
    replaced = f" ({len(done.replaced)} overwritten)" if done.replaced else ""
    click.echo(
        f"copied {len(done.written)} files into {folder}{replaced}; to use them, set sql_dir: {folder} in "
        f"config.yaml or pass --sql-dir {folder}",
        err=True,
    )


def _log_error(message: str, exc_info: bool = False) -> None:
    """The error also goes to --log-file, without printing it twice on stderr."""
    import logging

    for handler in logging.getLogger("cnpj_duck").handlers:
        if isinstance(handler, logging.FileHandler):
            record = logging.LogRecord(
                "cnpj_duck.cli", logging.ERROR, __file__, 0, message, None, sys.exc_info() if exc_info else None
            )
            record.event = "error"
            handler.handle(record)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn every error into one line and an exit code."""
    # Held until _main's error handling is in place; a no-op when done at import. A library caller's own handler
    # comes back at the end.
    ours = interrupts.install(hold=True)
    try:
        _main(argv)
    finally:
        if ours:
            interrupts.uninstall()
        else:  # the program's: installed at import, and the process ends now
            interrupts.finish()


def _interrupted() -> None:
    interrupts.hold()  # the command is ending: another Ctrl-C would only cut this message
    hint = _AFTER_INTERRUPT.get(state.get("command") or "")
    if hint:
        click.echo(hint, err=True)
    click.echo("interrupted", err=True)
    sys.exit(EXIT_INTERRUPTED)


def _main(argv: list[str] | None) -> None:
    state["argv"] = list(sys.argv[1:] if argv is None else argv)
    state["command"] = None
    try:
        interrupts.release()  # a Ctrl-C during start-up is raised now, and reported below
        cli.main(args=argv, prog_name="cnpj-duck", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.UsageError as e:  # one `error:` line like every other error, not click's usage block (issue 12)
        click.echo(f"error: {e.format_message()}", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_USAGE if e.exit_code == 2 else e.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        _interrupted()
    except Exception as e:
        if interrupts.is_interrupt(e):  # the error of the work a Ctrl-C stopped (a DuckDB query's, the driver's)
            _interrupted()
        _failed(e)
    sys.exit(0)


def _failed(e: Exception) -> None:
    """One `error:` line and the error's exit code; an internal error (a bug) says so."""
    if state["debug"]:
        traceback.print_exc()
    if isinstance(e, CnpjDuckError):
        click.echo(f"error: {e}", err=True)
        _log_error(str(e))
        sys.exit(e.exit_code)
    # a bug, not bad input: still one line unless --debug
    click.echo(f"internal error: {type(e).__name__}: {e} (run with --debug for the traceback)", err=True)
    _log_error(f"internal error: {type(e).__name__}: {e}", exc_info=True)
    sys.exit(EXIT_DATA)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
