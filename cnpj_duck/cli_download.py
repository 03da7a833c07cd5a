"""The commands that talk to the Receita's server: releases (also --local, what is built here) and download (cli.py
adds them to the group)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .cli_common import FORMAT, command_line, config_of, fail_if_failed, print_json, progress_options


def _source_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--mirror",
        is_flag=True,
        default=None,
        help="The base URL is a plain HTTP folder of YYYY-MM/ folders of zips, not the WebDAV share.",
    )(f)
    f = click.option("--token", help="The share token, sent as the basic-auth user (config download.token).")(f)
    f = click.option("--base-url", help="Where the YYYY-MM/ folders are (config download.base_url).")(f)
    return f


def _source_config(
    ctx: click.Context, base_url: str | None, token: str | None, mirror: bool | None, **overrides: Any
) -> Any:
    return config_of(
        ctx,
        **{"download.base_url": base_url, "download.token": token, "download.mode": "mirror" if mirror else None},
        **overrides,
    )


@click.command()
@_source_options
@click.option("--local", is_flag=True, help="The releases built here instead: rows per table, size, when built.")
@FORMAT
@click.pass_context
def releases(
    ctx: click.Context, base_url: str | None, token: str | None, mirror: bool | None, local: bool, fmt: str
) -> None:
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
        _local_releases(config_of(ctx), fmt)
        return
    from .download import list_releases, plain_url

    config = _source_config(ctx, base_url, token, mirror)
    found = list_releases(config, notify=lambda text: click.echo(f"warning: {text}", err=True))
    if fmt == "json":
        print_json(
            [
                {
                    "release": r.release,
                    "files": len(r.files),
                    "bytes": r.size,
                    "missing": r.missing(),
                    "url": plain_url(r.url),
                }
                for r in found
            ]
        )
        return
    from .console import show
    from .views import releases_view

    show(releases_view(found, plain_url(config.download_base_url)), highlight=False)


def _local_releases(config: Any, fmt: str) -> None:
    from .catalog import local_releases

    found = local_releases(config.data_dir)
    if fmt == "json":
        print_json(
            [
                {
                    "release": r.release,
                    "rows": r.rows,
                    "bytes": r.bytes,
                    "tables": [
                        {
                            "table": t.name,
                            "rows": t.rows,
                            "files": t.files,
                            "bytes": t.bytes,
                            "built_at": t.built_at,
                            "run_id": t.run_id,
                            "partial": t.partial,
                        }
                        for t in r.tables
                    ],
                }
                for r in found
            ]
        )
        return
    from .console import show
    from .views import local_releases_table

    show(local_releases_table(found, config.data_dir / "parquet"))


@click.command()
@click.option("--release", help="Month to download, YYYY-MM, or 'latest' (default: config release).")
@click.option("--tables", help="Comma-separated families to download, e.g. empresas,cnaes (default: all).")
@_source_options
@progress_options
@click.pass_context
def download(
    ctx: click.Context,
    release: str | None,
    tables: str | None,
    base_url: str | None,
    token: str | None,
    mirror: bool | None,
    no_progress: bool,
    quiet: bool,
) -> None:
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
        summary = download_release(config, progress=reporter, command=command_line())
    show(download_view(summary), highlight=False)
    fail_if_failed(summary, reporter)
