"""One config.yaml, loaded into a frozen dataclass and validated; flags > CNPJ_DUCK_* environment > file > defaults."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .dsn import check_dsn
from .errors import ConfigError
from .layout import FAMILIES, is_valid_release
from .logs import redact
from .sqlfiles import SqlDir, user_sql_dir

ENV_PREFIX = "CNPJ_DUCK_"
_MEMORY_RE = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


@dataclass(frozen=True)
class Setting:
    """One configuration key: its dotted name in config.yaml, type, default and check."""

    key: str
    kind: type
    default: Any
    check: Callable[[Any], str | None] | None = None  # returns what is allowed when the value is wrong
    secret: bool = False
    in_file: bool = True  # False for secrets, which come only from the environment or a flag
    env: str | None = None  # the environment variable, when not CNPJ_DUCK_<KEY>

    @property
    def env_name(self) -> str:
        return self.env or ENV_PREFIX + self.key.replace(".", "_").upper()

    @property
    def field_name(self) -> str:
        return self.key.replace(".", "_")


def _between(low: int, high: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if low <= v <= high else f"a whole number from {low} to {high}"

    return check


def _non_negative(v: Any) -> str | None:
    return None if v >= 0 else "a number >= 0"


def _seconds(low: float, high: float) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if low <= v <= high else f"a number of seconds from {low:g} to {high:g}"

    return check


def _http_url(v: str) -> str | None:
    return None if re.match(r"^https?://[^/\s]+", v) else "an http:// or https:// URL"


def _download_mode(v: str) -> str | None:
    allowed = "'webdav' (the Receita's Nextcloud share) or 'mirror' (a plain HTTP folder)"
    return None if v in ("webdav", "mirror") else allowed


def _schema(v: str) -> str | None:
    return None if re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", v) else "a lower-case Postgres identifier such as cnpj"


def _fraction(v: float) -> str | None:
    return None if 0 <= v <= 1 else "a fraction from 0 to 1, such as 0.10 for 10%"


def _release(v: str) -> str | None:
    return None if v == "latest" or is_valid_release(v) else "'latest' or a month as YYYY-MM"


_UNITS = {"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _memory(v: str) -> str | None:
    m = _MEMORY_RE.match(v)
    if not m:
        return "a size like 1GB or 512MB"
    number = float(v[: m.start(2)].strip())
    return None if number * _UNITS[m.group(2).lower()] >= 128e6 else "at least 128MB (DuckDB needs room to sort)"


def memory_bytes(v: str) -> int:
    """A checked memory size ('768MB', '1GB') in bytes."""
    m = _MEMORY_RE.match(v)
    if not m:
        raise ValueError(f"not a memory size: {v!r}")
    return int(float(v[: m.start(2)].strip()) * _UNITS[m.group(2).lower()])


def _compression(v: str) -> str | None:
    allowed = ("zstd", "snappy", "gzip", "lz4", "uncompressed")
    return None if v in allowed else "one of " + ", ".join(allowed)


def _tables(v: str) -> str | None:
    if v == "all":
        return None
    unknown = [t for t in split_list(v) if not re.fullmatch(r"[a-z_][a-z0-9_]*", t)]
    return f"'all' or a comma-separated list of table names (bad: {', '.join(unknown)})" if unknown else None


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", str, "data"),
    Setting("sql_dir", str, ""),  # "": the packaged SQL alone; a folder: its files added to or replacing them
    Setting("release", str, "latest", _release),
    Setting("tables", str, "all", _tables),
    Setting("threads", int, 2, _between(1, 256)),
    Setting("parallel_files", int, 2, _between(1, 16)),
    Setting("memory_limit", str, "768MB", _memory),
    Setting("batch_mb", int, 16, _between(1, 1024)),
    Setting("max_rejects_per_file", int, 10_000, _non_negative),
    Setting("parquet.compression", str, "zstd", _compression),
    Setting("parquet.row_group_size", int, 122_880, _between(1_000, 10_000_000)),
    Setting("download.base_url", str, "https://arquivos.receitafederal.gov.br/public.php/webdav/", _http_url),
    # A share token grants access like a password (a private share's too): shown as *** and kept out of the audit.
    Setting("download.token", str, "YggdBLfdninEJX9", secret=True),
    Setting("download.mode", str, "webdav", _download_mode),
    Setting("download.concurrency", int, 3, _between(1, 8)),
    Setting("download.connect_timeout", float, 15.0, _seconds(0.1, 600)),
    Setting("download.stall_timeout", float, 60.0, _seconds(0.1, 3600)),
    Setting("download.retries", int, 8, _between(0, 100)),
    Setting("download.backoff", float, 2.0, _seconds(0, 600)),
    Setting("export.schema", str, "cnpj", _schema),
    # How much smaller than the live table a table may arrive before the export stops (a truncated release).
    Setting("export.max_shrink", float, 0.10, _fraction),
    Setting(
        "export.dsn",
        str,
        "",
        lambda v: None if v == "" else check_dsn(v),
        secret=True,
        in_file=False,
        env="CNPJ_DUCK_PG_DSN",
    ),
    # The exports are the user's own copy: the privacy rules (privacy.py) only when asked for.
    Setting("export.privacy", bool, False),
    # The Tesouro's SIAFI-to-IBGE table (ibge.py): codigo_municipio_ibge in the views and in serve's answers.
    Setting("ibge", str, ""),
    Setting("serve.privacy", bool, True),
    Setting("serve.timeout", float, 10.0, _seconds(0.01, 3600)),
    Setting("serve.pool", int, 4, _between(1, 64)),
    Setting("serve.poll", float, 5.0, _seconds(0.1, 3600)),
    Setting("serve.memory_limit", str, "512MB", _memory),
)
_BY_KEY = {s.key: s for s in SETTINGS}
# Keys renamed since a release: the old name is still read (from the file and its environment variable).
RENAMED = {"serve.ibge": "ibge"}


@dataclass(frozen=True)
class Config:
    """The effective configuration of one command."""

    data_dir: Path
    sql_dir: SqlDir
    release: str
    tables: str
    threads: int
    parallel_files: int
    memory_limit: str
    batch_mb: int
    max_rejects_per_file: int
    parquet_compression: str
    parquet_row_group_size: int
    download_base_url: str
    download_token: str
    download_mode: str
    download_concurrency: int
    download_connect_timeout: float
    download_stall_timeout: float
    download_retries: int
    download_backoff: float
    export_schema: str
    export_max_shrink: float
    export_dsn: str
    export_privacy: bool
    ibge: str
    serve_privacy: bool
    serve_timeout: float
    serve_pool: int
    serve_poll: float
    serve_memory_limit: str
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def ibge_path(self) -> Path | None:
        """The SIAFI-to-IBGE table the user named (key ibge, formerly serve.ibge), or None."""
        return Path(self.ibge) if self.ibge else None

    def table_list(self) -> list[str] | None:
        """The tables asked for, or None for all."""
        return None if self.tables == "all" else split_list(self.tables)

    def redacted(self) -> dict[str, Any]:
        """Every key with its value, secrets hidden: what the audit and `config` show."""
        out: dict[str, Any] = {}
        for s in SETTINGS:
            value = getattr(self, s.field_name)
            if s.secret and value:
                out[s.key] = "***"
            elif isinstance(value, str):
                out[s.key] = redact(value)  # a URL may carry user:password@
            else:
                out[s.key] = str(value) if isinstance(value, (Path, SqlDir)) else value
        return out


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    try:
        return _coerce_value(setting, value, origin)
    except ConfigError as e:
        if setting.secret:  # never echo a secret back, even a malformed one
            raise ConfigError(str(e).replace(repr(value), "'***'").replace(str(value), "***")) from None
        raise


_BOOLS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def _coerce_value(setting: Setting, value: Any, origin: str) -> Any:
    if isinstance(value, list) and setting.key == "tables":
        value = ",".join(str(v) for v in value)
    if setting.kind is bool:
        if isinstance(value, str) and value.strip().lower() in _BOOLS:
            value = _BOOLS[value.strip().lower()]
        if not isinstance(value, bool):
            raise ConfigError(f"{setting.key} = {value!r} ({origin}): expected true or false")
    elif setting.kind is int:
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{setting.key} = {value!r} ({origin}): expected a whole number")
    elif setting.kind is float:
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{setting.key} = {value!r} ({origin}): expected a number")
        value = float(value)
    elif setting.kind is str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"{setting.key} = {value!r} ({origin}): expected text")
        value = str(value).strip()
    if setting.check and (allowed := setting.check(value)):
        raise ConfigError(f"{setting.key} = {value!r} ({origin}): expected {allowed}")
    return value


def unknown_env_warnings(env: Mapping[str, str]) -> list[str]:
    """One message per CNPJ_DUCK_* variable that no setting reads, naming the closest known one (issue 12)."""
    import difflib

    renamed = {ENV_PREFIX + old.replace(".", "_").upper() for old in RENAMED}
    known = sorted({s.env_name for s in SETTINGS} | {ENV_PREFIX + "CONFIG"} | renamed)
    messages = []
    for name in sorted(n for n in env if n.startswith(ENV_PREFIX) and n not in known):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
        messages.append(f"unknown environment variable {name} is ignored; {hint}")
    return messages


def find_config_file(explicit: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    """--config, then CNPJ_DUCK_CONFIG, then ./config.yaml if present."""
    if explicit:
        return Path(explicit)
    if env.get(ENV_PREFIX + "CONFIG"):
        return Path(env[ENV_PREFIX + "CONFIG"])
    local = Path("config.yaml")
    return local if local.is_file() else None


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    notify: Callable[[str], None] | None = None,
) -> Config:
    """Load and validate the configuration; `overrides` are flags, with dotted keys and None for unset."""
    env = os.environ if env is None else env
    if notify is not None:
        for message in unknown_env_warnings(env):
            notify(message)
    values: dict[str, Any] = {s.key: s.default for s in SETTINGS}
    sources: dict[str, str] = {s.key: "default" for s in SETTINGS}

    file = find_config_file(path, env)
    if file is not None:
        import yaml

        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"{file}: config file not found; pass an existing file to --config") from None
        except (IsADirectoryError, PermissionError) as e:
            raise ConfigError(f"{file}: cannot read the config file ({e.strerror}); pass a YAML file") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{file}: the config file is not UTF-8 text; save it as UTF-8") from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{file}{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"{file}: expected a mapping of keys to values at the top level")
        for key, value in _flatten(loaded).items():
            key = RENAMED.get(key, key)
            setting = _BY_KEY.get(key)
            if setting is None:
                known = ", ".join(s.key for s in SETTINGS)
                raise ConfigError(f"{file}: unknown key '{key}'; known keys: {known}")
            if not setting.in_file:
                raise ConfigError(
                    f"{file}: '{key}' is a secret and is not read from files; set {setting.env_name} "
                    f"or pass it as a flag"
                )
            if value is None:
                continue
            values[key] = _coerce(setting, value, str(file))
            sources[key] = str(file)
            if key in ("data_dir", "sql_dir", "ibge"):
                values[key] = str((file.parent / values[key]).resolve()) if values[key] else values[key]

    for old, new in RENAMED.items():  # the old variable first: the new one, when set too, wins
        name = ENV_PREFIX + old.replace(".", "_").upper()
        if env.get(name):
            values[new] = _coerce(_BY_KEY[new], env[name], name)
            sources[new] = name
    for setting in SETTINGS:
        name = setting.env_name
        if name in env and env[name] != "":
            values[setting.key] = _coerce(setting, env[name], name)
            sources[setting.key] = name

    for key, value in (overrides or {}).items():
        if value is None:
            continue
        setting = _BY_KEY[key]
        values[key] = _coerce(setting, value, "flag --" + key.rsplit(".", 1)[-1].replace("_", "-"))
        sources[key] = "flag"

    sql_dir = user_sql_dir(values["sql_dir"], "flag --sql-dir" if sources["sql_dir"] == "flag" else sources["sql_dir"])
    if values["tables"] != "all":
        unknown = [t for t in split_list(values["tables"]) if t not in FAMILIES and not sql_dir.file(f"{t}.sql")]
        if unknown:
            raise ConfigError(
                f"tables = {values['tables']!r} ({sources['tables']}): unknown table {', '.join(unknown)}; "
                f"expected 'all' or names from {', '.join(FAMILIES)} or sql/"
            )

    by_field = {s.field_name: s.key for s in SETTINGS}
    kwargs = {f.name: values[by_field[f.name]] for f in fields(Config) if f.name != "sources"}
    kwargs["data_dir"] = Path(kwargs["data_dir"])
    kwargs["sql_dir"] = sql_dir
    return Config(**kwargs, sources=sources)
