"""`cnpj-duck serve`: the CNPJ lookup API over a built release (the library is cnpj_duck/serve/)."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_common import config_of


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (loopback; 0.0.0.0 opens it to the network).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--release", help="Serve this month, YYYY-MM, until stopped (default: the latest built, followed).")
@click.option(
    "--no-privacy",
    is_flag=True,
    default=None,
    help="Show e-mails, CPFs in trade names and the addresses and phones of individuals (internal use; "
    "config serve.privacy).",
)
@click.option(
    "--ibge",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The Tesouro's SIAFI-to-IBGE table (siafi;cnpj;name;uf;ibge) for codigo_municipio_ibge and "
    "IBGE codes in ?municipio= (config ibge).",
)
@click.pass_context
def serve(
    ctx: click.Context, host: str, port: int, release: str | None, no_privacy: bool | None, ibge: Path | None
) -> None:
    """Answer CNPJ lookups and searches over HTTP, with the paths and JSON of the public lookup API.

    Serves a read-only DuckDB database of the release (data/serve/<release>.<fingerprint>.duckdb, written
    by `export duckdb` on first start); when a newer release is built, new requests switch to it without a
    restart. One JSON log line per request on stderr. Docs at /docs.

    \b
    Examples:
      cnpj-duck serve
      cnpj-duck serve --port 8080 --release 2026-10
      curl -s localhost:8000/33683111000280
      curl -s 'localhost:8000/?uf=SP&cnae_fiscal=6201501&limit=10&compact=1'
    """
    from .ibge import load_configured
    from .serve.app import ServeSettings
    from .serve.server import Started, run

    # The serving database is an `export duckdb` of the release: always whole, since serve applies the privacy
    # rules to each answer itself (--no-privacy must find the e-mails there), whatever export.privacy says.
    # --ibge is the config key ibge for this run: the answers and the views' municipios_ibge read one setting.
    config = config_of(ctx, **{"export.privacy": False, "ibge": str(ibge) if ibge else None})

    def started(s: Started) -> None:
        when = f", extracted {s.extracted}" if s.extracted else ""
        click.echo(
            f"serving release {s.release}{when} on {s.url} (docs {s.url}/docs); privacy "
            f"{'on' if s.privacy else 'off'}; Ctrl-C stops",
            err=True,
        )

    settings = ServeSettings(
        config,
        release=release,
        privacy=config.serve_privacy and not no_privacy,
        ibge=load_configured(config.ibge_path),
        timeout=config.serve_timeout,
        pool=config.serve_pool,
        poll=config.serve_poll,
    )
    run(settings, host, port, on_start=started)
