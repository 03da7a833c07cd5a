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
