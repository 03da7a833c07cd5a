"""What every command shares: the config, the common options, the audit's command line, JSON output, and the one
error line of a result that did not succeed."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

import click

from .errors import CnpjDuckError, NetworkError

# Set by cli.main(): --debug shows tracebacks; argv is the command line recorded in the audit.
state: dict[str, Any] = {"debug": False, "argv": []}


def config_of(ctx: click.Context, **overrides: Any) -> Any:
    """The configuration of this command: config.yaml, CNPJ_DUCK_* variables, then these flags."""
    from .config import load_config

    obj = ctx.find_root().obj
    warned = obj.setdefault("warned", set())  # a command may load its config twice: warn once

    def notify(text: str) -> None:
        if text not in warned:
            warned.add(text)
            click.echo(f"warning: {text}", err=True)

    flags = {"data_dir": obj["data_dir"], "sql_dir": obj.get("sql_dir")}
    return load_config(obj["config_path"], overrides={**flags, **overrides}, notify=notify)


FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A rich view for people, or JSON for programs (stable keys, see the README).",
)


def progress_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--quiet and --no-progress of the commands that show progress (build, download, export)."""
    f = click.option("--quiet", "-q", is_flag=True, help="Print only errors and the final summary.")(f)
    f = click.option("--no-progress", is_flag=True, help="Plain one-line events instead of progress bars.")(f)
    return f


_SECRET_FLAGS = ("--dsn", "--token")


def command_line() -> str:
    """The command as typed, for the audit, with the values of secret flags and URL passwords replaced by ***."""
    from .logs import redact

    words: list[str] = []
    hide_next = False
    for word in state["argv"]:
        if hide_next:
            word, hide_next = "***", False
        elif word in _SECRET_FLAGS:
            hide_next = True
        elif word.startswith(tuple(f + "=" for f in _SECRET_FLAGS)):
            word = word.split("=", 1)[0] + "=***"
        words.append(redact(word))
    return shlex.join(["cnpj-duck", *words])


_DECIMAL_MARK = "\u0000decimal:"


def print_json(data: Any) -> None:
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


def fail_if_failed(result: Any, reporter: Any = None) -> None:
    """Raise the error a build, download or lookup that did not wholly succeed ends its command with (main() turns
    it into the exit)."""
    error = failure(result, getattr(reporter, "errors_shown", 0))
    if error is not None:
        raise error


def failure(result: Any, errors_shown: int) -> CnpjDuckError | None:
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
        return kind(
            f"{head}: {listed}; the errors are above, and `cnpj-duck status --run {result.run_id}` has the details"
        )
    return kind(f"{head}: {result.errors[0] if result.errors else f'see `cnpj-duck status --run {result.run_id}`'}")


def _not_found(result: Any) -> str:
    from .cnpj import format_cnpj

    company = result.cnpj[:8]
    if result.establishments_of_company:
        head = f", head office {', '.join(map(format_cnpj, result.matriz_cnpj))}" if result.matriz_cnpj else ""
        return (
            f"CNPJ {result.formatted} not found in release {result.release}; its company {company} has "
            f"{result.establishments_of_company} establishment(s){head}"
        )
    return f"CNPJ {result.formatted} not found in release {result.release} (nor any CNPJ of company {company})"
