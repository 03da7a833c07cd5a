"""The guard before an export's swap: a release that arrived truncated must not replace a complete one.

The Receita has published months with files missing (issue 14). Each table's new row count is compared with the
live table it would replace; a drop of more than `export.max_shrink`, or a table that an earlier export put in
the schema and this release lacks, stops the export before anything is loaded, unless --allow-shrink.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .audit import RunScope
from .errors import ShrinkError
from .postgres import Session, qualified
from .progress import Progress

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
            # table.release: exported by cnpj-duck (a table of the user's in the schema is none of our business)
            if name not in new_rows and name not in optional and table.release is not None
        ]
    return sorted(out, key=lambda c: c.name)


@dataclass(frozen=True)
class Guard:
    """What the guard of one export checks against: the schema, the release, and what the user allows."""

    schema: str
    release: str
    max_shrink: float
    allow_shrink: bool = False
    whole_release: bool = False  # every table of the release (no --tables): a live table it lacks is missing
    optional: frozenset[str] = frozenset()  # exported only when asked for: never missing

    def check(self, pg: Session, run: RunScope, new_rows: dict[str, int], progress: Progress) -> dict[str, int]:
        """Compare every table with the live one; stop with ShrinkError (each table's numbers in its audit row)
        unless allowed. Returns the live rows of each table that will be replaced."""
        found = compare(new_rows, live_tables(pg, self.schema, set(new_rows)), self.whole_release, self.optional)
        blocked = [c for c in found if c.blocked(self.max_shrink)]
        if blocked and not self.allow_shrink:
            for c in found:  # the numbers go to the audit: one table row each, the blocked ones failed
                with run.table(c.name, self.release) as scope:
                    scope.set(rows_replaced=c.live.rows, output_path=f"{self.schema}.{c.name}")
                    if c in blocked:
                        scope.fail(c.describe(self.schema, self.release))
                    else:
                        scope.outcome, scope.note = "skipped", "not exported: the shrink guard stopped the export"
            lines = "\n".join(f"  {c.describe(self.schema, self.release)}" for c in blocked)
            # One line that says what happened and what to do, then one per table.
            raise ShrinkError(
                f"export stopped: {len(blocked)} table(s) of release {self.release} would shrink by more than "
                f"export.max_shrink ({self.max_shrink:.0%}) or be left out; {self.schema} is unchanged. Check the "
                f"release (files missing?) or pass --allow-shrink:\n{lines}"
            )
        for c in blocked:
            kept = "; the live table stays as it is" if c.rows is None else ""
            progress.message(f"{c.describe(self.schema, self.release)}{kept} (--allow-shrink)", level="warning")
        return {c.name: c.live.rows for c in found if c.rows is not None}
