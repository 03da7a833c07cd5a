"""The guard before an export's swap: a release that arrived truncated must not replace a complete one.

The Receita has published months with files missing (issue 14). Each table's new row count is compared with the
live table it would replace; a drop of more than `export.max_shrink`, or a table that an earlier export put in
the schema and this release lacks, stops the export before anything is loaded, unless --allow-shrink.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .postgres import Session, qualified

COMMENT_PREFIX = "cnpj-duck "  # how the table comment of an exported table starts (export.py writes it)
_RELEASE_RE = re.compile(r"\brelease (\d{4}-\d{2})\b")


@dataclass(frozen=True)
class LiveTable:
    """A table in the export's schema now, which this export would replace (or leave stale)."""

    name: str
    rows: int
    release: str | None  # from its comment, when cnpj-duck exported it


@dataclass(frozen=True)
class Comparison:
    """One table's rows in the release against the live table of the same name."""

    name: str
    rows: int | None  # in the release; None when the release lacks the table
    live: LiveTable

    @property
    def change(self) -> float | None:
        """The relative change in rows (-0.3 for 30% fewer); None without both counts."""
        if self.rows is None or self.live.rows == 0:
            return None
        return (self.rows - self.live.rows) / self.live.rows

    def blocked(self, max_shrink: float) -> bool:
        """Whether this table stops the export: missing from the release, or more than `max_shrink` smaller."""
        change = self.change
        return self.rows is None or (change is not None and -change > max_shrink)

    def describe(self, schema: str, release: str) -> str:
        """One line: the table, its new and live rows, and the change."""
        was = f"{self.live.rows:,} rows live in {schema}.{self.name}" + (
            f" (release {self.live.release})" if self.live.release else ""
        )
        if self.rows is None:
            return f"{self.name}: not in release {release}; {was}"
        change = self.change
        shown = f", {change:+.1%}" if change is not None else ""
        return f"{self.name}: {self.rows:,} rows in release {release}, {was}{shown}"


def live_tables(pg: Session, schema: str, names: set[str]) -> dict[str, LiveTable]:
    """The tables of `schema` named in `names`, and any other that cnpj-duck exported, with their exact rows."""
    found = pg.sql(
        "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname",
        (schema,),
        doing=f"listing the tables of {schema}",
    )
    live: dict[str, LiveTable] = {}
    for name, comment in found:
        ours = (comment or "").startswith(COMMENT_PREFIX)
        if name not in names and not ours:
            continue  # the user's own table: not ours to compare
        # Exact: the guard's numbers go to the audit. One scan per table, small beside loading it.
        rows = pg.sql(f"SELECT count(*) FROM {qualified(schema, name)}", doing=f"counting the rows of {schema}.{name}")
        match = _RELEASE_RE.search(comment or "") if ours else None
        live[name] = LiveTable(name, int(rows[0][0]), match.group(1) if match else None)
    return live


def compare(
    new_rows: dict[str, int], live: dict[str, LiveTable], whole_release: bool, optional: frozenset[str] = frozenset()
) -> list[Comparison]:
    """Every new table that replaces a live one, and (when the whole release is exported) every live table the
    release lacks, but for the `optional` ones (exported only when asked for, like qualidade)."""
    out = [Comparison(name, rows, live[name]) for name, rows in new_rows.items() if name in live]
    if whole_release:
        out += [
            Comparison(name, None, table)
            for name, table in live.items()
            if name not in new_rows and name not in optional and table.release is not None
        ]
    return sorted(out, key=lambda c: c.name)
