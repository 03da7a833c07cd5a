"""The SQL project in sql/, read in one place: transforms, views, data checks and macros.

Which files make it (the packaged ones, and a user's sql_dir over them) is sqlfiles.SqlDir's answer; here they
are read.

- `sql/<table>.sql`: one SELECT per output table (a transform), named after its table.
- `sql/views/<name>.sql`: one SELECT over the output tables, created in the catalog as the view `<name>`.
- `sql/checks/<check>.sql`: one SELECT of the rows a data check finds wrong (the shape is in sql/checks/README.md);
  the `qualidade` view is their union, summed per table, column and check (`quality_sql`).
- `sql/_macros.sql`: the macros every one of them may use.

The files' `--` comments are the data dictionary (`describe_sql`). Identifiers and literals that go into SQL text
are quoted here and only here (`quote_ident`, `quote_literal`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from .errors import ConfigError, SqlError
from .layout import FAMILIES, Family
from .sqlfiles import SqlDir

MACROS_FILE = "_macros.sql"
VIEWS_DIR = "views"
CHECKS_DIR = "checks"
QUALITY_VIEW = "qualidade"  # the view made of sql/checks/
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_MACRO_RE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?(MACRO|FUNCTION)\b", re.IGNORECASE | re.MULTILINE
)


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (the one place identifiers are put into SQL text)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A string literal for statements that take no bound parameters (view bodies, COMMENT ON), in DuckDB and in
    Postgres alike: an escape string (E'...'), right whatever Postgres' standard_conforming_strings says. NUL
    characters are dropped: neither database takes them in SQL text."""
    return "E'" + text.replace("\\", "\\\\").replace("'", "''").replace("\0", "") + "'"


def select_over(rel: duckdb.DuckDBPyRelation, name: str, sql: str) -> duckdb.DuckDBPyRelation:
    """rel.query for a SELECT over `rel`, called `name` in the SQL: a relation, never None (a SELECT has a result)."""
    result = rel.query(name, sql)
    if result is None:  # rel.query gives None for a statement without a result set, which a SELECT is not
        raise SqlError(f"the statement has no result to read: {sql.splitlines()[0]}")
    return result


@dataclass(frozen=True)
class Transform:
    """One sql/ file (a transform, a view, the checks' view): its name, its SQL and what it reads."""

    name: str
    path: Path
    sql: str
    family: Family | None  # the release family it reads, for base tables
    depends: frozenset[str]  # output tables (or views) of the project it reads

    @property
    def raw_name(self) -> str:
        assert self.family is not None
        return f"raw_{self.family.name}"

    def describe(self) -> tuple[str, dict[str, str]]:
        """The table's description and each column's, from the SQL file's comments (the data dictionary)."""
        return describe_sql(self.sql)


# `... AS name,  -- what it means` (the comma is absent on the last column)
_COLUMN_DOC_RE = re.compile(r"\bAS\s+\"?([A-Za-z_][A-Za-z0-9_]*)\"?\s*,?\s*--\s*(.+?)\s*$", re.IGNORECASE)


def describe_sql(sql: str) -> tuple[str, dict[str, str]]:
    """Read the data dictionary out of an SQL file: the leading comment, and `AS column, -- description` lines.

    The leading comment may say `-- name: what it is`; the `name:` part is dropped.
    """
    lines = sql.splitlines()
    head: list[str] = []
    for line in lines:
        if not line.strip().startswith("--"):
            break
        head.append(line.strip()[2:].strip())
    table_doc = " ".join(head)
    table_doc = re.sub(r"^[a-z_][a-z0-9_]*:\s*", "", table_doc)
    columns: dict[str, str] = {}
    for line in lines[len(head) :]:
        m = _COLUMN_DOC_RE.search(line)
        if m:
            columns[m.group(1)] = m.group(2)
    return table_doc, columns


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip().rstrip(";").strip()


def load_transforms(sql_dir: SqlDir, con: duckdb.DuckDBPyConnection) -> dict[str, Transform]:
    """Read every sql/<table>.sql and work out what each one reads (`con` has the macros)."""
    paths = sql_dir.files()
    if not paths:
        raise ConfigError(f"sql_dir = {str(sql_dir)!r}: no SQL transforms (<table>.sql) there; check sql_dir")
    names = {p.stem for p in paths}
    transforms: dict[str, Transform] = {}
    macros = table_macros(con)
    for path in paths:
        name = path.stem
        if not _NAME_RE.match(name):
            raise SqlError(f"{path}: a table name must be lower-case letters, digits and _; rename the file")
        sql = _read(path)
        if not sql:
            raise SqlError(f"{path}: the file is empty; write one SELECT")
        tables = referenced_tables(con, sql, path, macros)
        family = FAMILIES.get(name)
        if family is not None:
            if f"raw_{name}" not in tables:
                raise SqlError(f"{path}: a {name} transform must read raw_{name} (the member's rows as text)")
            transforms[name] = Transform(name, path, sql, family, frozenset())
        else:
            depends = frozenset(t for t in tables if t in names or t in FAMILIES)
            transforms[name] = Transform(name, path, sql, None, depends)
    return transforms


def table_macros(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The table macros of `con`, and query_table: called with a table's name, one reads that table."""
    # duckdb_functions() lists every function (tens of ms): once per set of files, not once per file.
    rows = con.execute("SELECT function_name FROM duckdb_functions() WHERE function_type = 'table_macro'").fetchall()
    return frozenset({"query_table", *(r[0] for r in rows)})


def parse_tree(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    """DuckDB's parse tree of `sql` (json_serialize_sql: `error` set when it does not parse), without binding."""
    tree: dict[str, Any] = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0])
    return tree


def referenced_tables(
    con: duckdb.DuckDBPyConnection, sql: str, path: Path, macros: frozenset[str] | None = None
) -> set[str]:
    """The tables a query reads, from DuckDB's parse tree (no binding, so the tables need not exist yet).

    A table macro of `con` (`macros`: table_macros(con) by default) called with a table's name, like
    lookup_descriptions('cnaes'), reads that table.
    """
    tree = parse_tree(con, sql)
    if tree.get("error"):
        raise SqlError(f"{path}: {tree.get('error_message', 'cannot parse the SQL')}")
    if len(tree["statements"]) != 1:
        raise SqlError(f"{path}: write exactly one SELECT statement")
    known = table_macros(con) if macros is None else macros
    tables: set[str] = set()
    ctes: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE":
                tables.add(node["table_name"])
            elif node.get("type") == "TABLE_FUNCTION" and node["function"].get("function_name") in known:
                for argument in node["function"].get("arguments", []):
                    literal = (argument.get("expression") or {}).get("literal") or {}
                    if literal.get("kind") == "STRING" and _NAME_RE.match(literal.get("text", "")):
                        tables.add(literal["text"])
            for entry in node.get("cte_map", {}).get("map", []):
                ctes.add(entry["key"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree["statements"])
    return tables - ctes


def order_transforms(transforms: dict[str, Transform]) -> list[Transform]:
    """Base tables first, then derived tables in dependency order."""
    ordered = [t for t in transforms.values() if t.family is not None]
    done = {t.name for t in ordered}
    pending = {t.name: t for t in transforms.values() if t.family is None}
    while pending:
        ready = sorted(n for n, t in pending.items() if t.depends <= done | (t.depends - transforms.keys()))
        if not ready:
            cycle = ", ".join(sorted(pending))
            raise SqlError(f"sql/: these transforms read each other in a cycle: {cycle}; break the cycle")
        for name in ready:
            ordered.append(pending.pop(name))
            done.add(name)
    return ordered


def table_docs(sql_dir: SqlDir) -> dict[str, tuple[str, dict[str, str]]]:
    """The data dictionary of every sql/<table>.sql: (table description, {column: description})."""
    return {p.stem: describe_sql(p.read_text(encoding="utf-8")) for p in sql_dir.files()}


def macros_sql(sql_dir: SqlDir, temporary: bool = False) -> str | None:
    """sql/_macros.sql as statements that (re)define each macro, temporary ones when asked; None without the file."""
    path = sql_dir.file(MACROS_FILE)
    if path is None:
        return None
    scope = "TEMPORARY " if temporary else ""
    return _MACRO_RE.sub(lambda m: f"CREATE OR REPLACE {scope}{m.group(1).upper()}", path.read_text(encoding="utf-8"))


def view_names(sql_dir: SqlDir) -> list[str]:
    """The names of the project's views: the files of sql/views/, and qualidade when sql/checks/ has checks."""
    names = {p.stem for p in sql_dir.files(VIEWS_DIR)}
    if sql_dir.files(CHECKS_DIR):
        names.add(QUALITY_VIEW)
    return sorted(names)


def view_sql(sql_dir: SqlDir, name: str) -> str | None:
    """The SQL (with its data dictionary comments) of one of the project's views; None when there is no such view."""
    path = sql_dir.file(f"{VIEWS_DIR}/{name}.sql")
    if path is not None:
        return _read(path)
    if name == QUALITY_VIEW:
        return quality_sql(sql_dir)
    return None


def source_files(sql_dir: SqlDir, name: str) -> list[Path]:
    """The files an output table or view of the project comes from: its transform (a `_history` view's too), its
    file in sql/views/, or for qualidade its frame and every check; empty for anything else (the audit tables)."""
    base = name.removesuffix("_history")
    for relative in (f"{base}.sql", f"{VIEWS_DIR}/{name}.sql"):
        path = sql_dir.file(relative)
        if path is not None:
            return [path]
    if name == QUALITY_VIEW:
        frame = sql_dir.file(f"{CHECKS_DIR}/{QUALITY_FRAME}")
        return [*([frame] if frame is not None else []), *sql_dir.files(CHECKS_DIR)]
    return []


def ordered_views(
    con: duckdb.DuckDBPyConnection, sql_dir: SqlDir, problems: list[str] | None
) -> list[tuple[Transform, set[str]]]:
    """The views (sql/views/ and qualidade), each after the views it reads, with every table it reads.

    A file that cannot be read as a view raises SqlError, or is left out and described in `problems` when a list
    is given.
    """
    sources: list[tuple[str, Path, str]] = []
    for path in sql_dir.files(VIEWS_DIR):
        if not _NAME_RE.match(path.stem):
            _problem(problems, f"{path}: a view name must be lower-case letters, digits and _; rename the file")
            continue
        sources.append((path.stem, path, _read(path)))
    if QUALITY_VIEW not in {name for name, _, _ in sources}:
        try:
            quality = quality_sql(sql_dir)
        except SqlError as e:
            _problem(problems, str(e))
            quality = None
        if quality is not None:
            frame = sql_dir.file(f"{CHECKS_DIR}/{QUALITY_FRAME}")
            sources.append((QUALITY_VIEW, frame or Path(CHECKS_DIR), quality))
    names = {name for name, _, _ in sources}
    views: dict[str, Transform] = {}
    reads: dict[str, set[str]] = {}
    macros = table_macros(con) if sources else frozenset()
    for name, path, sql in sources:
        try:
            reads[name] = referenced_tables(con, sql, path, macros)
        except SqlError as e:
            _problem(problems, str(e))
            continue
        views[name] = Transform(name, path, sql, None, frozenset(reads[name] & names))
    try:
        return [(view, reads[view.name]) for view in order_transforms(views)]
    except SqlError as e:
        _problem(problems, f"{VIEWS_DIR}/ of {sql_dir}: {e}")
        return []


# The columns every check returns, with their types (sql/checks/README.md says what they mean).
CHECK_COLUMNS = {
    "table_name": "VARCHAR",
    "column_name": "VARCHAR",
    "value": "VARCHAR",
    "problems": "BIGINT",
    "rows_checked": "BIGINT",
    "detail": "VARCHAR",
}
QUALITY_FRAME = "_qualidade.sql"  # in sql/checks: the qualidade view's SELECT over `found`, the checks' rows


def quality_sql(sql_dir: SqlDir) -> str | None:
    """The SQL of the qualidade view: every check of sql/checks/, summed per table, column and check; None when
    there is no check."""
    paths = sql_dir.files(CHECKS_DIR)
    if not paths:
        return None
    parts = []
    for path in paths:
        if not _NAME_RE.match(path.stem):
            raise SqlError(f"{path}: a check name must be lower-case letters, digits and _; rename the file")
        sql = _read(path)
        if not sql:
            raise SqlError(f"{path}: the file is empty; write one SELECT of the rows the check finds wrong")
        # Naming the columns makes a check that lacks one fail with the column's name.
        columns = ", ".join(f"c.{quote_ident(c)}::{kind} AS {c}" for c, kind in CHECK_COLUMNS.items())
        parts.append(f"SELECT {quote_literal(path.stem)} AS check_name, {columns} FROM (\n{sql}\n) c")
    frame_path = sql_dir.file(f"{CHECKS_DIR}/{QUALITY_FRAME}")
    if frame_path is None:
        raise SqlError(
            f"{CHECKS_DIR}/{QUALITY_FRAME} of {sql_dir}: missing; it is the qualidade view's SELECT over "
            "`found` (the checks' rows)"
        )
    frame = _read(frame_path)
    lines = frame.splitlines()
    head = next((i for i, line in enumerate(lines) if not line.strip().startswith("--")), len(lines))
    # The frame's leading comment stays first: it is the view's description (describe_sql).
    union = "\n    UNION ALL\n".join(parts)
    return "\n".join([*lines[:head], f"WITH found AS (\n{union}\n)", *lines[head:]])


def _problem(problems: list[str] | None, message: str) -> None:
    if problems is None:
        raise SqlError(message)
    problems.append(message)
