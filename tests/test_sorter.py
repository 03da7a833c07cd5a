"""The sorter orders rows by their key as DuckDB's ORDER BY does, ties in input order, in memory or through run
files; split_order hands it only the ORDER BYs it orders the same way."""

from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cnpj_duck import memory
from cnpj_duck.config import load_config
from cnpj_duck.sample import generate_release
from cnpj_duck.sorter import KeySorter, sort_order
from cnpj_duck.sqlproject import load_transforms
from cnpj_duck.transform import FamilyWriter, connect_engine, split_order


def _batches(keys: list[object], key_type: pa.DataType, size: int) -> list[pa.RecordBatch]:
    table = pa.table({"k": pa.array(keys, key_type), "pos": pa.array(range(len(keys)), pa.int64())})
    return table.to_batches(max_chunksize=size)


def _left(tmp: Path) -> list[Path]:
    """What the sorter left in its spill folder."""
    return list((tmp / "spill").rglob("*")) if (tmp / "spill").exists() else []


def _expected(keys: list[object]) -> list[int]:
    """Positions in a stable ascending order with NULLs last: what the sorter must give."""
    return sorted(range(len(keys)), key=lambda i: (keys[i] is None, keys[i] if keys[i] is not None else 0))


def _sorted(batches: list[pa.RecordBatch], budget: int, tmp: Path, out_rows: int = 1000) -> tuple[list[int], int]:
    sorter = KeySorter("k", batches[0].schema, budget, tmp / "spill", out_rows)
    try:
        for batch in batches:
            sorter.add(batch)
        runs = len(sorter.runs)
        tables = list(sorter.ordered())
    finally:
        sorter.close()
    assert all(t.num_rows == out_rows for t in tables[:-1])  # whole row groups, the last one what is left
    return [p for t in tables for p in t.column("pos").to_pylist()], runs


@pytest.mark.parametrize("budget", [1 << 30, 20_000, 3_000])  # in memory; a few runs; many runs of small blocks
def test_text_keys_with_ties_and_nulls_are_ordered_stably(tmp_path, budget):
    rng = random.Random(7)
    pool = [f"{rng.randrange(10**8):08d}" for _ in range(300)] + ["", "Á", "a", "Z"]
    keys = [None if rng.random() < 0.05 else rng.choice(pool) for _ in range(9000)]  # about 30 rows per key
    got, runs = _sorted(_batches(keys, pa.string(), 700), budget, tmp_path)
    assert got == _expected(keys)
    assert (runs == 0) == (budget == 1 << 30) and (budget != 3_000 or runs > 10)
    assert not _left(tmp_path)  # the run files are gone


@pytest.mark.parametrize("budget", [1 << 30, 3_000])
def test_keys_of_digits_of_one_length_are_ordered_as_text(tmp_path, budget):
    # The sorter orders them as integers (sort_order): the same order, leading zeros and ties included.
    rng = random.Random(11)
    pool = [f"{rng.randrange(10**14):014d}" for _ in range(200)] + ["00000000000000", "99999999999999"]
    keys = [None if rng.random() < 0.05 else rng.choice(pool) for _ in range(6000)]
    got, _ = _sorted(_batches(keys, pa.string(), 500), budget, tmp_path)
    assert got == _expected(keys)


@pytest.mark.parametrize(
    "keys",
    [
        ["10", "09", "1a", "00"],  # not all digits
        ["10", "9", "100", "09"],  # lengths differ: "100" < "9" as text
        ["1\u0663", "10", "09"],  # ARABIC-INDIC DIGIT THREE is a digit, not an ASCII one
        ["1234567890123456789", "0234567890123456789"],  # 19 digits: past what is taken as int64
        [None, None],
        [],
    ],
)
def test_other_text_keys_are_ordered_as_text(keys):
    order = sort_order(pa.chunked_array([pa.array(keys, pa.string())])).to_pylist()
    assert order == _expected(keys)


def test_a_run_of_one_key_across_blocks_and_runs_keeps_input_order(tmp_path):
    keys: list[object] = ["b"] * 5000 + ["a"] * 3000 + [None] * 2000 + ["b"] * 4000
    got, runs = _sorted(_batches(keys, pa.string(), 500), 4_000, tmp_path, out_rows=777)
    assert runs > 3 and got == _expected(keys)


@pytest.mark.parametrize(
    ("key_type", "make"),
    [
        (pa.int64(), lambda r: r.randrange(-50, 50)),
        (pa.date32(), lambda r: dt.date(2020, 1, 1) + dt.timedelta(r.randrange(60))),
    ],
)
def test_numbers_and_dates_sort_as_values(tmp_path, key_type, make):
    rng = random.Random(3)
    keys = [None if rng.random() < 0.1 else make(rng) for _ in range(5000)]
    for budget in (1 << 30, 5_000):
        got, _ = _sorted(_batches(keys, key_type, 400), budget, tmp_path)
        assert got == _expected(keys)


def test_a_failure_while_reading_the_result_leaves_no_run_file(tmp_path):
    keys = [f"{i % 97:03d}" for i in range(5000)]
    sorter = KeySorter("k", _batches(keys, pa.string(), 500)[0].schema, 4_000, tmp_path / "spill", 100)
    try:
        for batch in _batches(keys, pa.string(), 500):
            sorter.add(batch)
        ordered = sorter.ordered()
        next(ordered)
        assert list((tmp_path / "spill").rglob("*.arrow"))
        ordered.close()  # the writer stopped (an error, Ctrl-C): its files are closed, close() removes them
    finally:
        sorter.close()
    assert not _left(tmp_path)


@pytest.fixture
def con(tmp_path):
    c = connect_engine(1, "256MB", tmp_path / "tmp", load_config(None, env={}).sql_dir)
    yield c
    c.close()


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT a AS k, b FROM raw ORDER BY k", "k"),
        ("SELECT a AS k, b FROM raw\n-- comment\nORDER BY\n  k  -- the key\n", "k"),
        ("select a as k, b from raw order by k asc nulls last", "k"),
        ("SELECT a AS k, b FROM raw ORDER BY k DESC", None),
        ("SELECT a AS k, b FROM raw ORDER BY k NULLS FIRST", None),
        ("SELECT a AS k, b FROM raw ORDER BY k, b", None),
        ("SELECT a AS k, b FROM raw ORDER BY lower(k)", None),
        ("SELECT a AS k, b FROM raw ORDER BY a", None),  # an input column, not an output one
        ("SELECT a AS k, b FROM raw ORDER BY k LIMIT 5", None),
        ("SELECT a AS k, b FROM raw", None),
        ("SELECT a AS k, b FROM raw ORDER BY /* why */ k", None),  # not cut where unsure: DuckDB sorts
        ("SELECT a AS k, [b] AS b FROM raw ORDER BY b", None),  # a list: Arrow cannot sort it
    ],
)
def test_split_order_takes_only_an_ascending_key_column(con, sql, expected):
    output = {"k": "VARCHAR", "b": "VARCHAR[]" if "[b]" in sql else "VARCHAR"}
    split = split_order(con, sql, output)
    assert (split[1] if split else None) == expected
    if split:
        con.execute("CREATE OR REPLACE TABLE raw AS SELECT 'x' AS a, 'y' AS b")
        assert "ORDER" not in split[0].upper().split("--")[0] and con.sql(split[0]).fetchall() == [("x", "y")]


@pytest.mark.slow
def test_a_file_sorted_through_run_files_is_the_file_sorted_in_memory(con, tmp_path):
    """FamilyWriter's two ways of sorting (rows held, or spilled in runs and merged) write the same file, ordered
    by the key like DuckDB's ORDER BY."""
    from cnpj_duck.ingest import find_member, iter_member

    folder = generate_release(tmp_path / "raw", release="2026-10", scale=0.0005, seed=2, workers=1).folder
    transform = load_transforms(load_config(None, env={}).sql_dir, con)["estabelecimentos"]
    member = find_member(folder / "Estabelecimentos0.zip")
    out = {}
    for name, budget in (("memory", 1 << 30), ("runs", 100_000)):
        writer = FamilyWriter(con, transform, "zstd", 1000)
        assert writer.unordered is not None and writer.unordered[1] == "cnpj"
        batches = [b for item in iter_member(member, 1 << 18, empty_as_null=True) for b in item.table.to_batches()]
        writer.rows_in = sum(b.num_rows for b in batches)
        writer.write(batches, tmp_path / f"{name}.parquet", budget, tmp_path / "spill")
        out[name] = pq.read_table(tmp_path / f"{name}.parquet")
    assert out["runs"].equals(out["memory"]) and out["memory"].num_rows > 3000
    keys = out["memory"].column("cnpj").to_pylist()
    assert keys == sorted(keys, key=lambda k: (k is None, k or ""))
    con.register("raw_estabelecimentos", pa.Table.from_batches(batches))
    duck = con.sql(transform.sql).to_arrow_table()
    assert duck.column("cnpj").to_pylist() == keys  # DuckDB's order by key (its ties in another order)
    assert sorted(map(str, duck.to_pylist())) == sorted(map(str, out["memory"].to_pylist()))
    assert not _left(tmp_path)


def test_duckdb_orders_text_as_the_sorter_does(con):
    """Bytes order (UTF-8) for text, NULLs last: the sorter's contract with DuckDB's ORDER BY."""
    keys = ["b", "B", "á", "a", None, "", "ab", "Z", "\u00a0", "0"]
    got = [r[0] for r in con.execute("SELECT k FROM (SELECT unnest(?) AS k) ORDER BY k", [keys]).fetchall()]
    assert got == [keys[i] for i in _expected(keys)]


def test_batches_are_packed_as_they_come_and_counted_at_their_size(tmp_path):
    # DuckDB's small result batches are copied into a few large ones (Arrow's pool) while they are held.
    keys = [f"{(i * 7919) % 100_003:06d}" for i in range(400_000)]
    batches = [b.append_column("pad", pa.array(["x" * 20] * b.num_rows)) for b in _batches(keys, pa.string(), 2_000)]
    sorter = KeySorter("k", batches[0].schema, 1 << 30, tmp_path / "spill", 50_000)
    try:
        for batch in batches:
            sorter.add(batch)
        assert len(sorter.held) < len(batches) // 20  # packed, not the 200 batches as they came
        assert sorter.held_bytes == sum(b.nbytes for b in sorter.held)
        assert sorter.held_bytes + sorter.loose_bytes <= sum(b.nbytes for b in batches)
        got = [p for t in sorter.ordered() for p in t.column("pos").to_pylist()]
    finally:
        sorter.close()
    assert got == _expected(keys)


@pytest.mark.parametrize(
    ("limit", "files", "each"), [("768MB", 2, 96_000_000), ("384MB", 1, 96_000_000), ("1GiB", 2, (1 << 30) // 8)]
)
def test_the_sorters_share_a_quarter_of_memory_limit(limit, files, each):
    config = load_config(None, overrides={"memory_limit": limit, "parallel_files": files}, env={})
    assert memory.sort_bytes(config) == each


def test_a_build_makes_jemalloc_arrows_pool_unless_the_user_chose_one():
    # In a process of its own: the choice is made once per process and changes Arrow's default pool.
    import subprocess
    import sys

    def run(code: str, **env: str) -> str:
        environ = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"} | env
        done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    choose = "from cnpj_duck import memory; print(memory.choose_arrow_pool())"
    before = "import pyarrow as pa; print(pa.default_memory_pool().backend_name, pa.supported_memory_backends())"
    default, supported = run(before).split(" ", 1)
    assert run(choose) == ("jemalloc" if "jemalloc" in supported else default)
    assert run(choose, ARROW_DEFAULT_MEMORY_POOL="system") == "system"


def test_large_allocations_are_given_back_on_glibc():
    import platform

    assert memory.give_back_freed() is (platform.libc_ver()[0] == "glibc")
    assert memory.give_back_freed() is (platform.libc_ver()[0] == "glibc")  # once is enough, twice is harmless
