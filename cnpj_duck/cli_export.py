"""The `export` command group: a built release into a database server, or into one DuckDB or SQLite file to hand
over (cli.py adds it to the group)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .cli_common import command_line, config_of, progress_options, state

if TYPE_CHECKING:
    from .handover import HandoverSummary

# The same option on the three exports: the rules are applied where all of them read their rows (export_sources).
_PRIVACY = click.option(
    "--privacy/--no-privacy",
    default=None,
    help="Apply the privacy rules of serve to estabelecimentos (and the views over it): no e-mail, no "
    "CPF-looking digits in nome_fantasia, and for an individual's company (empresário individual, MEI and "
    "similar legal natures) no street address, CEP or phones. Off by default: the export is your own copy "
    "(config export.privacy). The export records it: cnpj_duck_metadata.privacy, the tables' comments, the "
    "audit's settings and notes.",
)


@click.group()
@click.pass_context
def export(ctx: click.Context) -> None:
    """Export a built release to a database server, or to one DuckDB or SQLite file.

    \b
    Examples:
      CNPJ_DUCK_PG_DSN=postgresql://me:secret@localhost:5432/dados cnpj-duck export postgres
      cnpj-duck export postgres --schema cnpj --tables empresas,estabelecimentos
      cnpj-duck export duckdb cnpj.duckdb
      cnpj-duck export sqlite cnpj.db --release 2026-10
      cnpj-duck export duckdb public.duckdb --privacy
    """
    if ctx.invoked_subcommand:  # what an interrupted export says depends on where it writes (cli.py)
        state["command"] = f"export {ctx.invoked_subcommand}"


@export.command("postgres")
@click.option("--dsn", help="postgresql://user:password@host:5432/db (default: env CNPJ_DUCK_PG_DSN); never printed.")
@click.option("--schema", help="Postgres schema of the tables (default: export.schema in config.yaml, cnpj).")
@click.option(
    "--tables",
    help="Comma-separated tables and views to export (default: every table built for the "
    "release and the views of sql/views/).",
)
@click.option("--release", help="Release to export, YYYY-MM (default: the latest built).")
@click.option(
    "--batch-rows",
    type=click.IntRange(min=1),
    default=None,
    help="Rows per Arrow batch sent to Postgres (default 16384); memory use grows with it.",
)
@click.option(
    "--allow-shrink",
    is_flag=True,
    help="Export even when a table arrives more than export.max_shrink (10%) smaller than the live one, or the "
    "release lacks a live table (the guard's exit 4).",
)
@_PRIVACY
@progress_options
@click.pass_context
def export_postgres(
    ctx: click.Context,
    dsn: str | None,
    schema: str | None,
    tables: str | None,
    release: str | None,
    batch_rows: int | None,
    allow_shrink: bool,
    privacy: bool | None,
    no_progress: bool,
    quiet: bool,
) -> None:
    """Load a built release into Postgres: typed, indexed, verified, and swapped in whole or not at all.

    Every table is loaded into a staging table, given its primary key (where the data has no repeated keys),
    indexes, statistics and comments, and counted against the Parquet; then all of them replace the live
    tables in one transaction. Readers keep seeing the previous tables until then; a failed or killed export
    leaves them as they were. Exit 3 when the server cannot be reached or refuses the login.

    Before anything is loaded, each table's rows are compared with the live table it replaces: one more than
    export.max_shrink (10%) smaller, or a live table the release lacks, stops the export with a line per table
    and exit 4, nothing changed (a truncated release); --allow-shrink exports it anyway.

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

    config = config_of(ctx, **{"export.dsn": dsn, "export.schema": schema, "export.privacy": privacy})
    with progress_display(no_progress, quiet) as reporter:
        summary = run_export(
            config,
            dsn=config.export_dsn,
            schema=config.export_schema,
            release=release,
            tables=split_list(tables) if tables else None,
            progress=reporter,
            command=command_line(),
            batch_rows=batch_rows or DEFAULT_BATCH_ROWS,
            allow_shrink=allow_shrink,
        )
    show(export_view(summary, describe_server(config.export_dsn)))


def _hand_over(
    ctx: click.Context,
    write: Callable[..., HandoverSummary],
    file: Path,
    release: str | None,
    privacy: bool | None,
    no_progress: bool,
    quiet: bool,
    **options: Any,
) -> None:
    """Run one hand-over writer (write_duckdb, write_sqlite) with the CLI's config and progress, then its summary."""
    from .console import progress_display, show
    from .store import Store
    from .views import handover_view

    config = config_of(ctx, **{"export.privacy": privacy})
    with progress_display(no_progress, quiet) as reporter:
        summary = write(
            Store(config.data_dir), release, file, config=config, progress=reporter, command=command_line(), **options
        )
    show(handover_view(summary))


_FILE = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
_RELEASE = click.option("--release", help="Release to export, YYYY-MM or latest (default: the latest built).")


@export.command("duckdb")
@_FILE
@_RELEASE
@click.option(
    "--no-indexes",
    is_flag=True,
    help="No ART indexes: a file about a third the size, lookups by key about 3x slower (still pruned by the sort).",
)
@_PRIVACY
@progress_options
@click.pass_context
def export_duckdb(
    ctx: click.Context,
    file: Path,
    release: str | None,
    no_indexes: bool,
    privacy: bool | None,
    no_progress: bool,
    quiet: bool,
) -> None:
    """Write a built release as one self-contained DuckDB file: tables, views, macros, data dictionary.

    Every table of the release is a real table, sorted like its Parquet and indexed on its lookup keys; the
    enriched views (estabelecimentos_completos, ...) are views over them; the comments and cnpj_duck_dictionary
    describe every column; cnpj_duck_metadata names the release and run. It needs no Parquet beside it and
    opens in DuckDB 1.x clients too. FILE is written aside and renamed when complete: a failed or interrupted
    export leaves the previous FILE as it was.

    \b
    Examples:
      cnpj-duck export duckdb cnpj.duckdb
      cnpj-duck export duckdb /srv/cnpj-2026-10.duckdb --release 2026-10
      duckdb -readonly cnpj.duckdb "FROM estabelecimentos_completos WHERE cnpj = '33000167000101'"
    """
    from .export_duckdb import write_duckdb

    _hand_over(ctx, write_duckdb, file, release, privacy, no_progress, quiet, indexes=not no_indexes)


@export.command("sqlite")
@_FILE
@_RELEASE
@click.option(
    "--batch-rows",
    type=click.IntRange(min=1),
    default=None,
    help="Rows per batch handed to SQLite (default 16384); memory use grows with it.",
)
@_PRIVACY
@progress_options
@click.pass_context
def export_sqlite(
    ctx: click.Context,
    file: Path,
    release: str | None,
    batch_rows: int | None,
    privacy: bool | None,
    no_progress: bool,
    quiet: bool,
) -> None:
    """Write a built release as one SQLite file, typed and indexed for lookups.

    Dates are ISO text, capital_social REAL, lists JSON text, flags 0/1; indexes on cnpj, cnpj_basico,
    razao_social, nome_fantasia, cnpj_cpf_socio, nome_socio_razao_social, uf+municipio and the CNAE codes;
    ANALYZE; cnpj_duck_dictionary describes every column and cnpj_duck_metadata names the release and run.
    FILE is written aside and renamed when complete: a failed or interrupted export leaves the previous FILE.

    \b
    Examples:
      cnpj-duck export sqlite cnpj.db
      sqlite3 cnpj.db "SELECT * FROM empresas WHERE razao_social LIKE 'BANCO DO BRASIL%'"
    """
    from .export_sqlite import DEFAULT_BATCH_ROWS, write_sqlite

    _hand_over(
        ctx, write_sqlite, file, release, privacy, no_progress, quiet, batch_rows=batch_rows or DEFAULT_BATCH_ROWS
    )
