"""The commands that read what was built: status, runs, rejects, describe, query, diff, lookup and search (cli.py
adds them to the group), and the options and output of the commands that write rows."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .cli_common import FORMAT, config_of, fail_if_failed, print_json
from .errors import CnpjDuckError


def output_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--format, --output and --max-rows of the commands that write rows (query, diff)."""
    f = click.option(
        "--max-rows",
        type=click.IntRange(min=0),
        default=100,
        show_default=True,
        help="Rows shown by table and markdown (0: all).",
    )(f)
    f = click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write to this file instead of stdout (needed for parquet).",
    )(f)
    f = click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "csv", "json", "jsonl", "markdown", "parquet"]),
        default="table",
        show_default=True,
        help="table/markdown for people (first --max-rows rows); csv, json, jsonl, parquet stream every row.",
    )(f)
    return f


T = TypeVar("T")


def read_audit(ctx: click.Context, read: Callable[[Any], T]) -> T:
    """What `read` finds in the audit tables, from the catalog opened read-only for that moment only."""
    from .catalogdb import open_catalog
    from .store import Store

    with open_catalog(Store(config_of(ctx).data_dir), read_only=True) as con:
        return read(con)


def drop_stdout() -> None:
    """After a BrokenPipeError (`... | head`): point stdout at /dev/null so the exit flush cannot fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


@click.command()
@click.option("--run", "run_id", type=int, help="The run to show (default: the last one).")
@FORMAT
@click.pass_context
def status(ctx: click.Context, run_id: int | None, fmt: str) -> None:
    """Show a build's audit tree: run > table > file > batch, with rows, rejects, timings and errors.

    \b
    Examples:
      cnpj-duck status
      cnpj-duck status --run 3 --format json
    """
    from .audit import load_run

    run = read_audit(ctx, lambda con: load_run(con, run_id))
    if run is None:
        raise CnpjDuckError(f"no run {run_id} in the catalog" if run_id else "no run in the catalog yet")
    if fmt == "json":
        import json

        run["config"] = json.loads(run["config"]) if run.get("config") else None
        print_json(run)
        return
    from .console import show
    from .views import run_tree

    show(run_tree(run), width=None)


@click.command()
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True, help="Runs to show (0: all).")
@FORMAT
@click.pass_context
def runs(ctx: click.Context, limit: int, fmt: str) -> None:
    """List the runs, newest first: id, command, release, status, rows written/rejected, start and duration.

    \b
    Examples:
      cnpj-duck runs
      cnpj-duck runs --limit 5 --format json
    """
    from .audit import list_runs

    found = read_audit(ctx, lambda con: list_runs(con, limit))
    if fmt == "json":
        print_json(found)
        return
    from .console import show
    from .views import runs_table

    show(runs_table(found))


@click.command()
@click.option("--run", "run_id", type=int, help="The run (default: the last run that rejected records).")
@click.option("--table", help="Only this table's rejects.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most this many.")
@FORMAT
@click.pass_context
def rejects(ctx: click.Context, run_id: int | None, table: str | None, limit: int, fmt: str) -> None:
    """List records that could not be parsed, with their file, line and reason.

    \b
    Examples:
      cnpj-duck rejects --table estabelecimentos
      cnpj-duck rejects --run 3 --format json --limit 1000
    """
    from .audit import load_rejects

    found = read_audit(ctx, lambda con: load_rejects(con, run_id, table, limit))
    if fmt == "json":
        print_json(found)
        return
    from .console import show
    from .views import rejects_table

    show(lambda width: rejects_table(found, width), width=None)


@click.command()
@click.argument("cnpjs", nargs=-1, required=True, metavar="CNPJ...")
@click.option("--release", help="Release to look in, YYYY-MM (default: the latest built).")
@click.option(
    "--privacy",
    is_flag=True,
    help="Apply the privacy rules of serve and the exports' --privacy: no e-mail, no CPF-looking digits in "
    "nome_fantasia, and for an individual's company (empresário individual, MEI, ...) no street address, CEP or "
    "phones.",
)
@FORMAT
@click.pass_context
def lookup(ctx: click.Context, cnpjs: tuple[str, ...], release: str | None, privacy: bool, fmt: str) -> None:
    """Show everything about establishments: company, partners, Simples/MEI, every code's description.

    A CNPJ may be typed with or without punctuation, in upper or lower case, numeric or alphanumeric; its check
    digits are verified (a wrong one exits 2). A CNPJ that is not in the release exits 1 after the others are shown.

    \b
    Examples:
      cnpj-duck lookup 12.345.678/0001-95
      cnpj-duck lookup 12345678000195 12.ABC.345/01DE-35 --format json
      cnpj-duck lookup 12abc34501de35 --release 2026-09
      cnpj-duck lookup 12345678000195 --privacy
    """
    from .lookup import lookup as run_lookup

    results = run_lookup(config_of(ctx), cnpjs, release, private=privacy)
    if fmt == "json":
        print_json([r.to_dict() for r in results])
    else:
        from .console import show
        from .views import lookup_panel

        for result in (r for r in results if r.found):
            show(lambda width, result=result: lookup_panel(result, width), width=None)
    fail_if_failed(results)


@click.command()
@click.option("--from", "from_release", help="The older release, YYYY-MM (default: the built release before --to).")
@click.option("--to", "to_release", help="The newer release, YYYY-MM (default: the latest built release).")
@click.option("--table", "tables", help="Comma-separated tables to compare (default: every table built in both).")
@click.option(
    "--records",
    is_flag=True,
    help="Print the differing records (table, status, key, changed columns) instead of the summary; "
    "the summary then goes to stderr.",
)
@click.option(
    "--status", "statuses", help="With --records: only these, comma-separated: new, removed, changed, duplicate."
)
@output_options
@click.pass_context
def diff(
    ctx: click.Context,
    from_release: str | None,
    to_release: str | None,
    tables: str | None,
    records: bool,
    statuses: str | None,
    fmt: str,
    output: Path | None,
    max_rows: int,
) -> None:
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
        raise click.BadParameter(
            f"{', '.join(sorted(set(wanted) - set(STATUSES)))}: not one of {', '.join(STATUSES)}", param_hint="--status"
        )
    _check_output(fmt, output)
    with run_diff(config_of(ctx), from_release, to_release, split_list(tables) if tables else None) as result:
        if result.from_release > result.to_release:  # allowed (a diff backwards), but likely a slip: say so
            click.echo(
                f"warning: --from {result.from_release} is newer than --to {result.to_release}: new and "
                "removed are read backwards; swap them to compare forwards",
                err=True,
            )
        people = fmt in ("table", "markdown") and not records
        if people and output is None:
            click.echo(f"{'## ' if fmt == 'markdown' else ''}diff {result.from_release} -> {result.to_release}\n")
        written = _write(
            result.records(wanted) if records else result.summary_relation(for_people=people), fmt, output, max_rows
        )
        if written is None:
            return
        notes = (
            result.lines()
            if records
            else (result.lines()[-1:] if result.skipped else [])
            + [f"{t.table}: {note}" for t in result.summary() for note in t.notes]
        )
        for line in notes:  # the summary goes with the records, on stderr; so do the summary's notes
            click.echo(line, err=True)
    _wrote(written)


@click.command()
@click.argument("sql", required=False)
@click.option(
    "--file",
    "sql_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the SQL from this file.",
)
@click.option("--release", help="Query this release, YYYY-MM, instead of each table's latest.")
@output_options
@click.pass_context
def query(
    ctx: click.Context,
    sql: str | None,
    sql_file: Path | None,
    fmt: str,
    output: Path | None,
    release: str | None,
    max_rows: int,
) -> None:
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
    from .store import Store, open_engine

    if sql is not None and sql_file is not None:
        raise click.UsageError("pass the SQL as an argument or with --file, not both")
    if sql_file is not None:
        sql = sql_file.read_text(encoding="utf-8")
    elif sql == "-" or (sql is None and not sys.stdin.isatty()):
        sql = sys.stdin.read()
    elif sql is None:
        raise click.UsageError("no SQL: pass it as an argument, with --file, or on stdin")
    if release is not None and release != "latest" and not is_valid_release(release):
        raise click.BadParameter(f"{release!r} is not a month as YYYY-MM, or latest", param_hint="--release")
    _check_output(fmt, output)
    config = config_of(ctx)
    if release == "latest":  # as build, lookup, export and diff take it
        release = Store(config.data_dir).resolve_release(release)
    engine = open_engine(config.threads, config.memory_limit, Store(config.data_dir).tmp_dir)
    con = connect(config.data_dir, config.sql_dir, release, engine, config.ibge_path)
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
        drop_stdout()
        return None


def _wrote(written: Any) -> None:
    if written is not None and written.output is not None:
        click.echo(f"wrote {written.rows:,} rows to {written.output}", err=True)


@click.command()
@click.argument("table", required=False)
@FORMAT
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

    config = config_of(ctx)
    con = connect_reader(config.data_dir, config.sql_dir, documented=True, ibge_file=config.ibge_path)
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
        print_json(found[0] if table is not None else found)
        return
    from .console import show
    from .views import catalog_view, columns_view

    show(
        catalog_view(objects, config.data_dir / "cnpj.duckdb") if table is None else columns_view(objects[0]), width=160
    )


@click.command()
@click.argument("name", required=False)
@click.option("--words", is_flag=True, help="Every word anywhere in the name, instead of the name's start.")
@click.option("--uf", help="Only this state, e.g. SP.")
@click.option("--municipio", help="Only this municipio (the Receita's 4-digit code; see the municipios table).")
@click.option("--cnae", help="Only this main CNAE (7 digits).")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="Establishments at most.")
@click.option("--release", help="Search this release, YYYY-MM or latest (default: the latest built).")
@output_options
@click.pass_context
def search(
    ctx: click.Context,
    name: str | None,
    words: bool,
    uf: str | None,
    municipio: str | None,
    cnae: str | None,
    limit: int,
    release: str | None,
    fmt: str,
    output: Path | None,
    max_rows: int,
) -> None:
    """Find establishments by the start of their legal or trade name (or its words), with filters.

    Case and accents do not matter. Then `cnpj-duck lookup CNPJ` shows everything about one of them.

    \b
    Examples:
      cnpj-duck search "MOURA LOG"
      cnpj-duck search "padaria pao" --words --uf SP --limit 50
      cnpj-duck search --cnae 4711302 --municipio 7107 --format csv
    """
    import pyarrow as pa

    from .search import search as run_search

    _check_output(fmt, output)
    found = run_search(
        config_of(ctx),
        name,
        words=words,
        uf=uf,
        municipio=municipio,
        cnae=cnae,
        limit=limit,
        release=release,
        notify=lambda text: click.echo(text, err=True),
    )
    if not found.rows:
        click.echo(f"no establishment matches in release {found.release}", err=True)
        return
    written = _write(pa.Table.from_pylist(list(found.rows)).to_reader(), fmt, output, max_rows)
    if written is None:
        return
    if found.more:
        click.echo(f"the first {found.limit} in CNPJ order; --limit shows more", err=True)
    _wrote(written)
