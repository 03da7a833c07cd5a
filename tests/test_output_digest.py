"""A build's outputs, pinned: a digest per table of rows, values, types and order, and of the audit's counts.

Speed work (issue 13) changes how rows are parsed, typed, sorted and written; it must not change what is
written. The digests below were taken from the build before that work began (main at 8f9a9c2) and every
optimisation must leave them as they are. A deliberate change to the outputs (a new column, another type)
updates them, and says so in its commit.

Parquet metadata that may change on purpose (encodings, row group sizes, compression, statistics) is not part
of a digest. Row order is, by each table's sort key. Rows with equal keys (the generator repeats a few CNPJs,
as the Receita does) came out of the old sort in no fixed order, so within a run of equal keys the rows are
taken as a set.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from cnpj_duck.build import build
from cnpj_duck.config import load_config
from cnpj_duck.layout import FAMILIES
from cnpj_duck.sample import generate_release

# The sort key of each output table (its transform's ORDER BY).
SORT_KEYS = {"estabelecimentos": "cnpj", "empresas": "cnpj_basico", "socios": "cnpj_basico", "simples": "cnpj_basico"}

# rows, part files, digest of schema + rows in order; from main at 8f9a9c2 (scale 0.001, seed 3, batch_mb 1).
TABLES = {
    "cnaes": (1359, 1, "d940b29a9977266d"),
    "empresas": (57599, 10, "d6dc26ebef8a9bb8"),
    "estabelecimentos": (65665, 10, "929abb2d520dc777"),
    "motivos": (62, 1, "ce798f0164c36ac8"),
    "municipios": (5571, 1, "e3118a9de731f060"),
    "naturezas": (90, 1, "3578b318135dd9bf"),
    "paises": (255, 1, "000cd4f7797d7448"),
    "qualificacoes": (68, 1, "df5411d679438d31"),
    "simples": (39170, 1, "f9b32453c981c06a"),
    "socios": (23496, 10, "9682e879e7ae4973"),
}
# Digests of the audit: per file (read, written, rejected, values nulled per column) and every reject
# (file, line, reason, raw text).
AUDIT_TABLES = [
    ("cnaes", 1359, 1359, 0),
    ("empresas", 57602, 57599, 3),
    ("estabelecimentos", 65668, 65665, 3),
    ("motivos", 62, 62, 0),
    ("municipios", 5571, 5571, 0),
    ("naturezas", 90, 90, 0),
    ("paises", 255, 255, 0),
    ("qualificacoes", 68, 68, 0),
    ("simples", 39173, 39170, 3),
    ("socios", 23499, 23496, 3),
]  # table, rows read, written, rejected
FILES_DIGEST = "1ff3d5d4fec3dd07"
REJECTS = (12, "64bde8f40aa3540f")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def table_digest(folder: Path, table: str) -> tuple[int, int, str]:
    """Rows, part files and a digest of the schema and of the rows in order (equal sort keys as a set)."""
    parts = sorted(folder.glob("part-*.parquet"), key=lambda p: int(p.stem.split("-")[1]))
    h = hashlib.sha256()
    rows = 0
    schema = None
    for part in parts:
        data = pq.read_table(part)
        names = [(f.name, str(f.type)) for f in data.schema]
        assert schema is None or names == schema, part
        schema = names
        h.update(part.name.encode())
        key = data.column_names.index(SORT_KEYS.get(table, "codigo"))
        tied: list[str] = []
        for row in zip(*(data.column(i).to_pylist() for i in range(data.num_columns)), strict=True):
            if tied and row[key] != tied[0][1]:
                h.update("".join(sorted(text for text, _ in tied)).encode())
                tied = []
            tied.append((repr(row) + "\n", row[key]))
        h.update("".join(sorted(text for text, _ in tied)).encode())
        rows += data.num_rows
    h.update(repr(schema).encode())
    return rows, len(parts), h.hexdigest()[:16]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("digest")
    manifest = generate_release(root / "raw", release="2026-10", scale=0.001, seed=3, workers=1)
    # 1 MB batches: the larger files are read in two, so batch boundaries count too.
    config = load_config(None, overrides={"data_dir": str(root / "data"), "batch_mb": 1}, env={})
    summary = build(config, source=manifest.folder)
    assert summary.status == "succeeded", summary.errors
    return config.data_dir


@pytest.mark.slow
def test_every_table_is_written_as_before(built: Path) -> None:
    got = {t: table_digest(built / "parquet" / t / "release=2026-10", t) for t in FAMILIES}
    assert got == TABLES


@pytest.mark.slow
def test_the_audit_counts_as_before(built: Path) -> None:
    con = duckdb.connect(str(built / "cnpj.duckdb"), read_only=True)
    try:
        tables = con.execute(
            "SELECT table_name, rows_read, rows_written, rows_rejected FROM audit_tables ORDER BY table_name"
        ).fetchall()
        files = con.execute(
            "SELECT zip_name, rows_read, rows_written, rows_rejected, values_nulled FROM audit_files ORDER BY zip_name"
        ).fetchall()
        rejects = con.execute("SELECT zip_name, line, reason, raw FROM rejects ORDER BY zip_name, line").fetchall()
        batches = con.execute("SELECT count(*) FROM audit_batches").fetchone()
    finally:
        con.close()
    assert tables == AUDIT_TABLES
    assert _sha(repr(files)) == FILES_DIGEST
    assert (len(rejects), _sha(repr(rejects))) == REJECTS
    assert batches is not None and batches[0] > len(files)  # some files were read in more than one batch


@pytest.mark.slow
def test_the_sort_keys_keep_their_statistics(built: Path) -> None:
    """Point lookups skip row groups by the key's min/max (cnpj, and cnpj_basico for a company's establishments)."""
    for table, columns in (
        ("estabelecimentos", ("cnpj", "cnpj_basico")),
        ("empresas", ("cnpj_basico",)),
        ("socios", ("cnpj_basico",)),
        ("simples", ("cnpj_basico",)),
        ("cnaes", ("codigo",)),
    ):
        for part in (built / "parquet" / table / "release=2026-10").glob("part-*.parquet"):
            meta = pq.ParquetFile(part).metadata
            names = [meta.schema.column(i).name for i in range(meta.num_columns)]
            for g in range(meta.num_row_groups):
                for column in columns:
                    stats = meta.row_group(g).column(names.index(column)).statistics
                    assert stats is not None and stats.has_min_max, (part, column)
                    assert stats.min <= stats.max
