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
from .errors import EXIT_DATA, EXIT_INTERRUPTED, EXIT_USAGE, CnpjDuckError, NetworkError

_state: dict[str, Any] = {"debug": False, "argv": []}


def _config(ctx: click.Context, **overrides: Any) -> Any:
    from .config import load_config

    obj = ctx.find_root().obj
    return load_config(obj["config_path"], overrides={"data_dir": obj["data_dir"], **overrides})


# -- Options shared by several commands ------------------------------------------------------------------------


def _progress_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--quiet", "-q", is_flag=True, help="Print only errors and the final summary.")(f)
    f = click.option("--no-progress", is_flag=True, help="Plain one-line events instead of progress bars.")(f)
    return f


def _source_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--mirror", is_flag=True, default=None,
                     help="The base URL is a plain HTTP folder of YYYY-MM/ folders of zips, not the WebDAV share.")(f)
    f = click.option("--token", help="The share token, sent as the basic-auth user (config download.token).")(f)
    f = click.option("--base-url", help="Where the YYYY-MM/ folders are (config download.base_url).")(f)
    return f


def _output_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--format, --output and --max-rows of the commands that write rows (query, diff)."""
    f = click.option("--max-rows", type=click.IntRange(min=0), default=100, show_default=True,
                     help="Rows shown by table and markdown (0: all).")(f)
    f = click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
                     help="Write to this file instead of stdout (needed for parquet).")(f)
    f = click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "jsonl", "markdown", "parquet"]),
                     default="table", show_default=True, help="table/markdown for people (first --max-rows rows); "
                     "csv, json, jsonl, parquet stream every row.")(f)
    return f


_FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
                       help="A rich view for people, or JSON for programs (stable keys, see the README).")


def _source_config(ctx: click.Context, base_url: str | None, token: str | None, mirror: bool | None,
                   **overrides: Any) -> Any:
    return _config(ctx, **{"download.base_url": base_url, "download.token": token,
                           "download.mode": "mirror" if mirror else None}, **overrides)


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
    from .build import build as run_build
    from .build import sample_release
    from .console import progress_display, show
    from .views import summary_table

    config = _config(ctx, tables=tables, release=release)
    if download and (sample or source is not None):
        raise click.UsageError("--download fetches into <data_dir>/raw; it does not go with --sample or --source")
    if sample and source is not None:
        raise click.UsageError("--sample and --source both name the input; pass one of them")
    if sample:
        source, release = sample_release(config.data_dir), None
    with progress_display(no_progress, quiet) as reporter:
        if download:
            release = _download_into_raw(config, release, reporter)
        summary = run_build(config, release=release, source=source, force=force, progress=reporter,
                            command=_command_line(), limit_rows=limit_rows, max_files=max_files_per_table)
    show(summary_table(summary))
    _fail_if_failed(summary, reporter)


def _download_into_raw(config: Any, release: str | None, reporter: Any) -> str:
    """`build --download`: fetch the release first; returns its month, or raises when a file failed."""
    from .download import download_release
    from .views import download_line

    summary = download_release(config, release, progress=reporter, command=_command_line())
    reporter.message(download_line(summary))
    _fail_if_failed(summary, reporter)
    return summary.release


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
    from .console import show
    from .views import run_tree

    show(run_tree(run), width=None)


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
    from .console import show
    from .views import rejects_table

    show(rejects_table(found), width=None)


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
        from .console import show
        from .views import lookup_panel

        for result in (r for r in results if r.found):
            show(lookup_panel(result), width=None)
    _fail_if_failed(results)


@cli.command()
@click.option("--from", "from_release", help="The older release, YYYY-MM (default: the built release before --to).")
@click.option("--to", "to_release", help="The newer release, YYYY-MM (default: the latest built release).")
@click.option("--table", "tables", help="Comma-separated tables to compare (default: every table built in both).")
@click.option("--records", is_flag=True,
              help="Print the differing records (table, status, key, changed columns) instead of the summary; "
                   "the summary then goes to stderr.")
@click.option("--status", "statuses", help="With --records: only these, comma-separated: new, removed, changed, "
                                           "duplicate.")
@_output_options
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

    wanted = split_list(statuses) if statuses else None
    if wanted and not records:
        raise click.UsageError("--status selects records: add --records")
    if wanted and set(wanted) - set(STATUSES):
        raise click.BadParameter(f"{', '.join(sorted(set(wanted) - set(STATUSES)))}: not one of "
                                 f"{', '.join(STATUSES)}", param_hint="--status")
    _check_output(fmt, output)
    with run_diff(_config(ctx), from_release, to_release, split_list(tables) if tables else None) as result:
        people = fmt in ("table", "markdown") and not records
        if people and output is None:
            click.echo(f"{'## ' if fmt == 'markdown' else ''}diff {result.from_release} -> {result.to_release}\n")
        written = _write(result.records(wanted) if records else result.summary_relation(for_people=people), fmt,
                         output, max_rows)
        if written is None:
            return
        notes = result.lines() if records else (result.lines()[-1:] if result.skipped else []) + [
            f"{t.table}: {note}" for t in result.summary() for note in t.notes]
        for line in notes:  # the summary goes with the records, on stderr; so do the summary's notes
            click.echo(line, err=True)
    _wrote(written)


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

    config = _source_config(ctx, base_url, token, mirror)
    found = list_releases(config, notify=lambda text: click.echo(f"warning: {text}", err=True))
    if fmt == "json":
        _json([{"release": r.release, "files": len(r.files), "bytes": r.size, "missing": r.missing(),
                "url": plain_url(r.url)} for r in found])
        return
    from .console import show
    from .views import releases_view

    show(releases_view(found, plain_url(config.download_base_url)), highlight=False)


def _local_releases(config: Any, fmt: str) -> None:
    from .catalog import local_releases

    found = local_releases(config.data_dir)
    if fmt == "json":
        _json([{"release": r.release, "rows": r.rows, "bytes": r.bytes,
                "tables": [{"table": t.name, "rows": t.rows, "files": t.files, "bytes": t.bytes,
                            "built_at": t.built_at, "run_id": t.run_id, "partial": t.partial} for t in r.tables]}
               for r in found])
        return
    from .console import show
    from .views import local_releases_table

    show(local_releases_table(found, config.data_dir / "parquet"))


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
    from .console import progress_display, show
    from .download import download_release
    from .views import download_view

    config = _source_config(ctx, base_url, token, mirror, tables=tables, release=release)
    with progress_display(no_progress, quiet) as reporter:
        summary = download_release(config, progress=reporter, command=_command_line())
    show(download_view(summary), highlight=False)
    _fail_if_failed(summary, reporter)


@cli.command()
@click.argument("sql", required=False)
@click.option("--file", "sql_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the SQL from this file.")
@click.option("--release", help="Query this release, YYYY-MM, instead of each table's latest.")
@_output_options
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
    from .query import connect, run_query

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
    _check_output(fmt, output)
    config = _config(ctx)
    con = connect(config.data_dir, config.sql_dir, release)
    try:
        written = _write(run_query(con, sql, release, config.data_dir), fmt, output, max_rows)
    finally:
        con.close()
    _wrote(written)


def _check_output(fmt: str, output: Path | None) -> None:
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet writes a file: pass --output FILE")


def _write(rows: Any, fmt: str, output: Path | None, max_rows: int) -> Any:
    """Write a query's or diff's rows; None when stdout's reader has gone (`... | head`): stop quietly, like
    other Unix tools."""
    from .query import write_result

    try:
        return write_result(rows, fmt, sys.stdout, output, max_rows)
    except BrokenPipeError:
        _drop_stdout()
        return None


def _wrote(written: Any) -> None:
    if written is not None and written.output is not None:
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
    con = connect_reader(config.data_dir, config.sql_dir)
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
    from .console import show
    from .views import catalog_view, columns_view

    show(catalog_view(objects, config.data_dir / "cnpj.duckdb") if table is None else columns_view(objects[0]),
         width=160)


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
    from .config import split_list
    from .console import progress_display, show
    from .dsn import describe_server
    from .export import DEFAULT_BATCH_ROWS
    from .export import export_postgres as run_export
    from .views import export_view

    config = _config(ctx, **{"export.dsn": dsn, "export.schema": schema})
    with progress_display(no_progress, quiet) as reporter:
        summary = run_export(config, config.export_dsn, config.export_schema, split_list(tables) if tables else None,
                             release, reporter, _command_line(), batch_rows or DEFAULT_BATCH_ROWS)
    show(export_view(summary, describe_server(config.export_dsn)))


# -- Results that did not succeed: each becomes its one error line and exit code here, raised for main() --------


def _fail_if_failed(result: Any, reporter: Any = None) -> None:
    """Raise the error a build, download or lookup that did not wholly succeed ends its command with."""
    error = _failure(result, getattr(reporter, "errors_shown", 0))
    if error is not None:
        raise error


def _failure(result: Any, errors_shown: int) -> CnpjDuckError | None:
    """The error line and exit code of a result: exit 3 for a download whose every failure was the network's or
    the server's, else 1. When each error already had its line (`errors_shown`), the last line only sums up."""
    from .build import BuildSummary

    if isinstance(result, list):  # lookup results: every CNPJ not in the release, after the others were shown
        missing = [r for r in result if not r.found]
        return CnpjDuckError("; ".join(_not_found(r) for r in missing)) if missing else None
    if not result.failed:
        return None
    if isinstance(result, BuildSummary):
        what, noun, kind = "build", "table", CnpjDuckError
        failed = [t.name for t in result.tables if t.status not in ("succeeded", "skipped")]
    else:
        bad = [f for f in result.files if f.status == "failed"]
        what, noun, failed = "download", "file", [f.name for f in bad]
        kind = NetworkError if bad and all(f.network for f in bad) else CnpjDuckError
    head = f"{what} of {result.release} {result.status}"
    if errors_shown:
        listed = f"{len(failed)} {noun}{'s' * (len(failed) > 1)} ({', '.join(failed)})" if failed else "the run"
        return kind(f"{head}: {listed}; the errors are above, and `cnpj-duck status --run {result.run_id}` has "
                    "the details")
    return kind(f"{head}: {result.errors[0] if result.errors else f'see `cnpj-duck status --run {result.run_id}`'}")


def _not_found(result: Any) -> str:
    from .cnpj import format_cnpj

    company = result.cnpj[:8]
    if result.establishments_of_company:
        head = f", head office {', '.join(map(format_cnpj, result.matriz_cnpj))}" if result.matriz_cnpj else ""
        return (f"CNPJ {result.formatted} not found in release {result.release}; its company {company} has "
                f"{result.establishments_of_company} establishment(s){head}")
    return f"CNPJ {result.formatted} not found in release {result.release} (nor any CNPJ of company {company})"


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
