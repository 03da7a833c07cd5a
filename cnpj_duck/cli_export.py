"""The `export` command group: a built release into a database server (cli.py adds it to the group)."""

from __future__ import annotations

import click

from .cli_common import command_line, config_of, progress_options


@click.group()
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

    config = config_of(ctx, **{"export.dsn": dsn, "export.schema": schema})
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
