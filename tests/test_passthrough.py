"""Raw columns a transform passes as they are skip DuckDB (passthrough.py): the split runs only plain projections
of the raw table, and writes the same file as running the whole SQL in DuckDB."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cnpj_duck.config import load_config
from cnpj_duck.ingest import find_member, iter_member
from cnpj_duck.passthrough import plan_passthrough
from cnpj_duck.sample import generate_release
from cnpj_duck.sqlproject import load_transforms
from cnpj_duck.transform import FamilyWriter, connect_engine, trim_padded


@pytest.fixture
def con(tmp_path):
    c = connect_engine(1, "256MB", tmp_path / "spill", load_config(None, env={}).sql_dir)
    yield c
    c.close()


def _output(con, sql):
    con.register("raw_t", pa.table({"a": pa.array(["x"]), "b": pa.array(["y"])}))
    try:
        rel = con.sql(sql)
        return {n: str(t) for n, t in zip(rel.columns, rel.types, strict=True)}
    finally:
        con.unregister("raw_t")


@pytest.mark.parametrize(
    ("sql", "sources", "rest"),
    [
        ("SELECT a AS k, upper(b) AS u FROM raw_t", ("a", None), "upper"),
        ("SELECT raw_t.a, b FROM raw_t", ("a", "b"), None),
        ("SELECT r.a, r.b AS c FROM raw_t r", ("a", "b"), None),
        ('SELECT "A" AS k, b FROM raw_t', ("a", "b"), None),  # identifiers are case-insensitive
        ("SELECT a || b AS ab FROM raw_t", None, None),  # nothing passes through
        ("SELECT a, b FROM raw_t WHERE a <> 'z'", None, None),
        ("SELECT DISTINCT a, b FROM raw_t", None, None),
        ("SELECT a, b FROM raw_t LIMIT 3", None, None),
        ("SELECT a, count(*) OVER () AS n FROM raw_t", None, None),  # across rows: a window
        ("SELECT a, (SELECT max(b) FROM raw_t) AS m FROM raw_t", None, None),  # a subquery
        ("WITH w AS (SELECT * FROM raw_t) SELECT a, b FROM w", None, None),
        ("SELECT * FROM raw_t", None, None),
        ("SELECT a, b AS a2, lower(a2) AS l FROM raw_t", None, None),  # l reads an alias taken out: runs whole
    ],
)
def test_only_plain_projections_of_the_raw_table_are_split(con, sql, sources, rest):
    plan = plan_passthrough(con, sql, "raw_t", ["a", "b"], _output(con, sql))
    assert (plan.sources if plan else None) == sources
    if plan is not None:
        assert (plan.sql is None) == (rest is None) and (rest is None or rest in plan.sql.lower())


def test_a_window_hidden_in_a_macro_runs_whole(con):
    """DuckDB's plan shows what a macro expands to."""
    con.execute("CREATE MACRO numbered(x) AS row_number() OVER (PARTITION BY x)")
    sql = "SELECT a, numbered(b) AS n FROM raw_t"
    assert plan_passthrough(con, sql, "raw_t", ["a", "b"], _output(con, sql)) is None


def _write(con, transform, batches, path, split):
    writer = FamilyWriter(con, transform, "zstd", 700)
    assert (writer.split is not None) == transform.name.startswith(("estab", "empresas", "socios", "simples"))
    if not split:
        writer.split = None
    for b in batches:
        writer.count(writer.prepare(pa.Table.from_batches([b]))[1])
    prepared = [b for raw in batches for b in trim_padded(pa.Table.from_batches([raw])).to_batches()]
    written = writer.write(prepared, path, 1 << 30, path.parent / "spill")
    return pq.read_table(path), written


@pytest.mark.slow
@pytest.mark.parametrize("family", ["estabelecimentos", "empresas", "socios", "simples"])
def test_a_split_transform_writes_what_duckdb_writes_whole(con, tmp_path, family):
    """Same schema (types, descriptions), same values in the same order, same counts of nulled values; with
    batches that do not line up with DuckDB's."""
    folder = generate_release(tmp_path / "raw", release="2026-10", scale=0.0005, seed=4, workers=1).folder
    transform = load_transforms(load_config(None, env={}).sql_dir, con)[family]
    zip_name = "Simples.zip" if family == "simples" else f"{family.capitalize()}0.zip"
    member = find_member(folder / zip_name)
    batches = [b for item in iter_member(member, 1 << 16, empty_as_null=True) for b in item.table.to_batches()]
    assert len(batches) > 3
    whole, whole_written = _write(con, transform, batches, tmp_path / "whole.parquet", split=False)
    split, split_written = _write(con, transform, batches, tmp_path / "split.parquet", split=True)
    assert split.schema.equals(whole.schema, check_metadata=True)
    assert split.equals(whole) and split.num_rows == sum(b.num_rows for b in batches) > 1000
    assert split_written == whole_written


def test_a_transform_of_raw_columns_only_needs_no_duckdb(con, tmp_path):
    transform = load_transforms(load_config(None, env={}).sql_dir, con)["cnaes"]
    writer = FamilyWriter(con, transform, "zstd", 3)
    assert writer.split is not None and writer.split.sql is None
    raw = pa.table({"codigo": ["2", "1", None, "3", "0"], "descricao": ["b", "a", "n", None, "z"]})
    writer.count(writer.prepare(raw)[1])
    writer.write(raw.to_batches(max_chunksize=2), tmp_path / "c.parquet", 1 << 30, tmp_path / "spill")
    got = pq.read_table(tmp_path / "c.parquet")
    assert got.to_pylist() == [
        {"codigo": c, "descricao": d} for c, d in [("0", "z"), ("1", "a"), ("2", "b"), ("3", None), (None, "n")]
    ]
    assert [f.type for f in got.schema] == [pa.string(), pa.string()]
