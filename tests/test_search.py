"""`search`: establishments by name prefix or words, with uf, municipio and CNAE filters (issue 12, item 12)."""

from __future__ import annotations

import duckdb
import pytest

from cnpj_duck.config import load_config
from cnpj_duck.errors import UsageError
from cnpj_duck.search import plain, search

from .conftest import cli_run


def _expected(data_dir, where: str, params: list) -> list[str]:
    con = duckdb.connect()
    root = f"{data_dir}/parquet"
    sql = (
        f"SELECT e.cnpj FROM read_parquet('{root}/estabelecimentos/release=2026-10/*.parquet') e "
        f"LEFT JOIN (SELECT DISTINCT cnpj_basico, razao_social FROM read_parquet('{root}/empresas/release=2026-10/"
        f"*.parquet')) m USING (cnpj_basico) WHERE {where} GROUP BY e.cnpj ORDER BY e.cnpj"
    )
    return [r[0] for r in con.execute(sql, params).fetchall()]


def test_search_by_name_prefix_words_and_filters_matches_a_plain_scan(sample_build):
    _, data_dir, _ = sample_build
    config = load_config(None, overrides={"data_dir": str(data_dir)}, env={})
    prefix = "LOPES"
    found = search(config, "lópes", limit=1000)  # case and accents do not matter
    assert found.release == "2026-10"
    norm = "upper(strip_accents({}))"
    want = _expected(
        data_dir,
        f"starts_with({norm.format('m.razao_social')}, ?) OR starts_with({norm.format('e.nome_fantasia')}, ?)",
        [prefix, prefix],
    )
    assert want and [r["cnpj"] for r in found.rows] == want
    assert all(
        plain(r["razao_social"] or "").startswith(prefix) or plain(r["nome_fantasia"] or "").startswith(prefix)
        for r in found.rows
    )
    words = search(config, "ltda lopes", words=True, uf="SP", limit=1000)
    want = _expected(
        data_dir,
        f"e.uf = 'SP' AND ((contains({norm.format('m.razao_social')}, 'LTDA') AND "
        f"contains({norm.format('m.razao_social')}, 'LOPES')) OR "
        f"(contains({norm.format('e.nome_fantasia')}, 'LTDA') AND "
        f"contains({norm.format('e.nome_fantasia')}, 'LOPES')))",
        [],
    )
    assert [r["cnpj"] for r in words.rows] == want
    capped = search(config, uf="SP", limit=5)
    assert len(capped.rows) == 5 and capped.more and {r["uf"] for r in capped.rows} == {"SP"}
    injected = search(config, "X' OR 1=1 --", limit=5)  # a bound parameter: matches nothing
    assert injected.rows == ()


def test_search_refuses_what_it_cannot_answer(sample_build):
    _, data_dir, _ = sample_build
    config = load_config(None, overrides={"data_dir": str(data_dir)}, env={})
    for kwargs, says in (
        ({}, "give a name"),
        ({"name": "ab"}, "at least 3 letters"),
        ({"name": "lopes", "limit": 5000}, "--limit 5000"),
        ({"name": "lopes", "release": "2026-01"}, "not built for it"),
    ):
        with pytest.raises(UsageError, match=says):
            search(config, **kwargs)


def test_search_and_prune_commands(sample_build, tmp_path, capsys):
    _, data_dir, _ = sample_build
    code, out, err = cli_run(capsys, "--data-dir", str(data_dir), "search", "LOPES", "--uf", "SP", "--format", "csv")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith('"cnpj","cnpj_basico","razao_social"') and len(lines) > 1
    assert all(',"SP",' in line for line in lines[1:])
    code, out, err = cli_run(capsys, "--data-dir", str(data_dir), "search", "QQQQQQQQ")
    assert code == 0 and out == "" and "no establishment matches in release 2026-10" in err
    code, out, err = cli_run(capsys, "--data-dir", str(data_dir), "search")
    assert code == 2 and err.strip().count("\n") == 0 and "give a name" in err
    code, out, err = cli_run(capsys, "--data-dir", str(data_dir), "prune", "--keep", "1", "--dry-run")
    assert (code, out) == (0, "would remove nothing (0.0 MB); kept 2026-10\n"), err


@pytest.mark.slow
def test_the_name_index_is_made_once_per_build_and_pruned_with_its_release(sample_build, tmp_path, capsys):
    import shutil

    from cnpj_duck.build import build
    from cnpj_duck.store import Store

    _, source, _ = sample_build
    data_dir = tmp_path / "data"
    shutil.copytree(source, data_dir)
    store = Store(data_dir)
    shutil.rmtree(store.index_dir("2026-10"), ignore_errors=True)  # other tests may have made it in the original
    config = load_config(None, overrides={"data_dir": str(data_dir)}, env={})
    said: list[str] = []
    first = search(config, "lopes", limit=1000, notify=said.append)
    (index,) = store.index_dir("2026-10").glob("nomes-*.parquet")
    assert said == ["making the name index of release 2026-10 (once per release: a sort of every name)"]
    made = index.stat().st_mtime_ns
    again = search(config, "lopes", limit=1000, notify=said.append)
    assert again == first and len(said) == 1 and index.stat().st_mtime_ns == made  # read, not made again
    names = duckdb.sql(f"SELECT chave FROM read_parquet('{index}')").fetchall()
    assert [n for (n,) in names] == sorted(n for (n,) in names)  # sorted by the plain name: a prefix prunes
    assert not list(store.index_dir("2026-10").glob(".*"))  # nothing left aside
    # A rebuilt release gets a new index; the one made from the earlier build goes.
    summary = build(
        load_config(None, overrides={"data_dir": str(data_dir)}, env={}),
        source=sample_build[0].folder,
        tables=["empresas"],
        force=True,
    )
    assert summary.status == "succeeded"
    assert search(config, "lopes", limit=1000, notify=said.append) == first and len(said) == 2
    (remade,) = store.index_dir("2026-10").glob("nomes-*.parquet")
    assert remade != index
    # prune keeps the index of a release it keeps (and removes a removed one's: the test below)
    code, out, err = cli_run(capsys, "--data-dir", str(data_dir), "prune", "--keep", "1")
    assert code == 0 and store.index_dir("2026-10").is_dir(), err  # the one release is kept


@pytest.mark.slow  # two name indexes made, a prune
def test_prune_removes_the_name_index_of_a_release_it_removes_and_keeps_the_others(sample_build, tmp_path):
    import shutil

    from cnpj_duck.prune import prune
    from cnpj_duck.store import Store

    from .conftest import copy_table

    _, source, _ = sample_build
    data_dir = tmp_path / "data"
    shutil.copytree(source, data_dir)
    store = Store(data_dir)
    for table in store.built():
        copy_table(source, data_dir, table, "2026-10", "2026-11")  # a second release, the newer
    config = load_config(None, overrides={"data_dir": str(data_dir)}, env={})
    found = {month: search(config, "lopes", release=month, limit=1000) for month in ("2026-10", "2026-11")}
    (kept,) = store.index_dir("2026-11").glob("nomes-*.parquet")
    made = kept.stat().st_mtime_ns
    index_bytes = sum(p.stat().st_size for p in store.index_dir("2026-10").iterdir())
    dry = prune(config, keep=1, dry_run=True)
    assert dry.removed == ("2026-10",) and dry.freed_bytes > index_bytes > 0  # the Parquet and the index
    assert list(store.index_dir("2026-10").glob("nomes-*.parquet"))  # a dry run removes nothing
    done = prune(config, keep=1)
    assert done.removed == ("2026-10",) and done.kept == ("2026-11",) and done.freed_bytes == dry.freed_bytes
    assert not store.index_dir("2026-10").exists() and store.releases() == ["2026-11"]
    said: list[str] = []
    assert search(config, "lopes", limit=1000, notify=said.append) == found["2026-11"]  # the latest, as before
    assert said == [] and kept.stat().st_mtime_ns == made  # its index stayed: read, not made again


def test_a_search_where_the_index_cannot_be_written_reads_the_tables(sample_build, tmp_path):
    import shutil

    from cnpj_duck.store import Store

    _, source, _ = sample_build
    data_dir = tmp_path / "data"
    shutil.copytree(source, data_dir)
    store = Store(data_dir)
    shutil.rmtree(store.index_dir("2026-10"), ignore_errors=True)
    store.index_dir("2026-10").parent.mkdir(parents=True, exist_ok=True)
    store.index_dir("2026-10").write_text("not a folder")  # mkdir fails whoever runs the test, root included
    config = load_config(None, overrides={"data_dir": str(data_dir)}, env={})
    said: list[str] = []
    found = search(config, "ltda lopes", words=True, uf="SP", limit=1000, notify=said.append)
    assert len(said) == 2 and "cannot write the name index" in said[1]
    store.index_dir("2026-10").unlink()
    assert search(config, "ltda lopes", words=True, uf="SP", limit=1000) == found  # the same rows from the index
