"""The privacy rules outside serve: the same values blanked by privacy.apply (row by row) and by the SQL the
exports run in bulk; export duckdb, sqlite and postgres with --privacy, and lookup --privacy, on the sample."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cnpj_duck import privacy
from cnpj_duck.audit import load_run
from cnpj_duck.config import load_config
from cnpj_duck.errors import UsageError
from cnpj_duck.export import export_postgres
from cnpj_duck.export_duckdb import write_duckdb
from cnpj_duck.export_sources import prepare_privacy, read_sql
from cnpj_duck.export_sqlite import write_sqlite
from cnpj_duck.store import Store

from .conftest import catalog, cli_run

RELEASE = "2026-10"
CPF_LIKE = re.compile(r"(?<![0-9])[0-9]{3}\.?[0-9]{3}\.?[0-9]{3}-?[0-9]{2}(?![0-9])")
SHOWN = ("cnpj", "nome_fantasia", "correio_eletronico", *privacy.CONTACT_COLUMNS, "bairro", "municipio", "uf")


def _rewrite(con: duckdb.DuckDBPyConnection, part: Path, select: str, params: list[Any]) -> None:
    """A part file rewritten with the same rows in the same order, some values changed (its manifest's row count
    still holds: the exports check the rows)."""
    changed = part.with_suffix(".new")
    con.execute(
        f"COPY ({select.format(part=f'read_parquet({chr(39)}{part}{chr(39)}, hive_partitioning = false)')}) "
        f"TO '{changed}' (FORMAT parquet)",
        params,
    )
    changed.replace(part)


def _personalise(data: Path) -> dict[str, str]:
    """Put CPFs in trade names (bare, punctuated, two in a row, alone) of individuals' and companies'
    establishments, and make one limited company (2062) an MEI in simples: what the rules must catch. Returns the
    changed trade names by CNPJ."""
    store = Store(data)
    con = duckdb.connect()
    store.read_table(con, "empresas", RELEASE).create_view("empresas")
    store.read_table(con, "estabelecimentos", RELEASE).create_view("estabelecimentos")
    picked = con.execute(
        "SELECT e.cnpj, c.natureza_juridica FROM estabelecimentos e JOIN empresas c USING (cnpj_basico) "
        "WHERE c.natureza_juridica IN ('2135', '2062') AND e.correio_eletronico IS NOT NULL "
        "AND e.logradouro IS NOT NULL ORDER BY hash(e.cnpj) LIMIT 40"
    ).fetchall()
    shapes = ("JOAO DA SILVA {}", "{} LANCHES", "BAR {} {}", "{}", "LOJA 12345678000195 {}")
    names = {}
    for n, (cnpj, _) in enumerate(picked[:10]):
        cpfs = [f"{n:03d}4567890{n % 10}", f"{n:03d}.456.789-0{n % 10}"]
        names[cnpj] = shapes[n % len(shapes)].format(*cpfs)
    for part in store.part_files("estabelecimentos", RELEASE):
        _rewrite(
            con,
            part,
            "SELECT * REPLACE (coalesce(map_extract(?::MAP(VARCHAR, VARCHAR), cnpj)[1], nome_fantasia) AS "
            "nome_fantasia) FROM {part}",
            [names],
        )
    store.read_table(con, "simples", RELEASE).create_view("simples")
    (company,) = con.execute(
        "SELECT cnpj_basico FROM simples JOIN empresas USING (cnpj_basico) JOIN estabelecimentos USING (cnpj_basico) "
        "WHERE natureza_juridica = '2062' AND NOT opcao_mei AND logradouro IS NOT NULL ORDER BY 1 LIMIT 1"
    ).fetchall()[0]
    for part in store.part_files("simples", RELEASE):
        _rewrite(con, part, "SELECT * REPLACE (opcao_mei OR cnpj_basico = ? AS opcao_mei) FROM {part}", [company])
    con.close()
    return names


def _expected(data: Path) -> list[dict[str, Any]]:
    """Every establishment of the release with privacy.blank applied in Python: the reference."""
    store = Store(data)
    con = duckdb.connect()
    naturezas: dict[str, list[str]] = {}
    for root, nature in store.read_table(con, "empresas", RELEASE).project("cnpj_basico, natureza_juridica").fetchall():
        naturezas.setdefault(root, []).append(nature)
    simples = store.read_table(con, "simples", RELEASE).project("cnpj_basico, opcao_mei").fetchall()
    meis = {root for root, mei in simples if mei}
    out = []
    for row in _rows(store.read_table(con, "estabelecimentos", RELEASE)):
        root = row["cnpj_basico"]
        individual = root in meis or any(privacy.is_individual(n) for n in naturezas.get(root, ()))
        out.append(privacy.blank(row, individual))
    con.close()
    return out


def _rows(rel: Any) -> list[dict[str, Any]]:
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def _sorted(rows: list[dict[str, Any]], columns: tuple[str, ...] | None = None) -> list[tuple]:
    """Rows as tuples of `columns` (all), in one order: the sample repeats some CNPJs (a duplicate key quirk)."""
    tuples = [tuple(r[c] for c in columns) if columns else tuple(r.items()) for r in rows]
    return sorted(tuples, key=lambda t: [(v is None, str(v)) for v in t])


@pytest.fixture(scope="module")
def personal(sample_build: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], list]:
    """A copy of the sample build with CPFs in trade names and an MEI among the companies, and what the rules
    must make of every establishment of it."""
    _, built, _ = sample_build
    data = tmp_path_factory.mktemp("privacy") / "data"
    shutil.copytree(built, data)
    names = _personalise(data)
    return data, names, _expected(data)


def _config(data: Path, **overrides: Any):
    return load_config(None, overrides={"data_dir": str(data), **overrides}, env={})


def _parquet(data: Path) -> list[dict[str, Any]]:
    return _rows(Store(data).read_table(duckdb.connect(), "estabelecimentos", RELEASE))


def _check_private(got: list[dict[str, Any]], expected: list[dict], parquet: list[dict], names: dict[str, str]) -> None:
    """An export's establishments (SHOWN columns) against the rules: the Python reference value by value (so a
    company's establishment loses only its e-mail and a CPF in its trade name); no e-mail and no CPF in a trade
    name anywhere; the contacts of individuals NULL."""
    assert _sorted(got, SHOWN) == _sorted(expected, SHOWN)
    assert len(got) == len(parquet)
    assert all(r["correio_eletronico"] is None for r in got)
    assert not any(CPF_LIKE.search(r["nome_fantasia"] or "") for r in got)
    assert all(CPF_LIKE.search(r["nome_fantasia"]) for r in parquet if r["cnpj"] in names)  # the CPFs were there
    blanked = sum(r["logradouro"] is None for r in got) - sum(r["logradouro"] is None for r in parquet)
    kept = sum(r["logradouro"] is not None for r in got)
    assert blanked > 100 and kept > 100  # both kinds of company in the sample


@pytest.mark.slow
def test_the_sql_and_the_python_rules_blank_the_same_values(personal: tuple[Path, dict, list]) -> None:
    data, names, expected = personal
    store = Store(data)
    con = duckdb.connect()
    prepare_privacy(con, store, RELEASE)
    files = store.part_files("estabelecimentos", RELEASE)
    rel = con.sql(read_sql(con, "estabelecimentos", files, True))
    assert rel.columns == con.sql(read_sql(con, "estabelecimentos", files, False)).columns
    got = _rows(rel)
    assert _sorted(got) == _sorted(expected)  # every column of every row
    parquet = _parquet(data)
    _check_private(got, expected, parquet, names)
    before = {r["cnpj"]: r["logradouro"] for r in parquet}
    mei = [r["cnpj"] for r in got if r["logradouro"] is None and before[r["cnpj"]] is not None]
    natures = dict(
        Store(data).read_table(con, "empresas", RELEASE).project("cnpj_basico, natureza_juridica").fetchall()
    )
    assert any(natures.get(c[:8]) == "2062" for c in mei)  # the MEI flag alone makes a company a person's
    assert {r["nome_fantasia"] for r in expected if r["cnpj"] in names} >= {"JOAO DA SILVA", "LANCHES", "BAR", None}


def test_privacy_rules_on_single_values() -> None:
    assert privacy.strip_cpf("LOJA  A") == "LOJA  A"  # no CPF: the text is left as it is
    assert privacy.strip_cpf("A 12345678901.12345678902-B") == "A . -B"  # two CPFs side by side
    assert privacy.strip_cpf("1234567890112345678901") == "1234567890112345678901"  # 22 digits: no CPF
    con = duckdb.connect()
    con.execute("CREATE TABLE roots (cnpj_basico VARCHAR)")
    for text in ("AB\t123.456.789-01\tC", "O'BRIEN 12345678901", "12345678901 12345678902 12345678903", "", None):
        con.execute("CREATE OR REPLACE TABLE t AS SELECT ?::VARCHAR AS nome_fantasia, '1' AS cnpj_basico", [text])
        (got,) = con.execute(privacy.select_sql("t", "roots", ["nome_fantasia", "cnpj_basico"])).fetchall()
        assert got == (privacy.blank({"nome_fantasia": text}, False)["nome_fantasia"], "1"), text


@pytest.mark.slow
def test_export_duckdb_with_privacy(personal: tuple[Path, dict, list], tmp_path: Path) -> None:
    data, names, expected = personal
    summary = write_duckdb(
        Store(data), RELEASE, tmp_path / "p.duckdb", config=_config(data, **{"export.privacy": True})
    )
    assert summary.privacy
    con = duckdb.connect(str(tmp_path / "p.duckdb"), read_only=True)
    got = _rows(con.sql("SELECT * FROM estabelecimentos"))
    _check_private(got, expected, _parquet(data), names)
    assert _sorted(got) == _sorted(expected)
    assert con.execute("SELECT privacy FROM cnpj_duck_metadata").fetchall() == [(True,)]
    assert "cnpj_duck_individuals" not in {
        r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    }
    assert con.execute(
        "SELECT count(correio_eletronico), count(*) FILTER (WHERE logradouro IS NULL) FROM estabelecimentos_completos"
    ).fetchall() == [(0, sum(r["logradouro"] is None for r in expected))]
    (comment,) = con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'estabelecimentos'").fetchall()[0]
    assert privacy.SUMMARY in comment
    # the other tables are as built
    assert con.execute("SELECT count(*) FROM empresas").fetchall()[0][0] == sum(
        p["rows"] for p in Store(data).manifest("empresas", RELEASE)["parts"].values()
    )
    con.close()
    run = load_run(catalog(data), summary.run_id)
    assert json.loads(run["config"])["export.privacy"] is True
    (table,) = [t for t in run["tables"] if t["table_name"] == "estabelecimentos"]
    assert privacy.SUMMARY in table["note"]


@pytest.mark.slow
def test_export_sqlite_with_privacy(personal: tuple[Path, dict, list], tmp_path: Path) -> None:
    data, names, expected = personal
    summary = write_sqlite(Store(data), RELEASE, tmp_path / "p.db", config=_config(data, **{"export.privacy": True}))
    assert summary.privacy
    db = sqlite3.connect(tmp_path / "p.db")
    got = [dict(zip(SHOWN, r, strict=True)) for r in db.execute(f"SELECT {', '.join(SHOWN)} FROM estabelecimentos")]
    _check_private(got, expected, _parquet(data), names)
    assert db.execute("SELECT privacy FROM cnpj_duck_metadata").fetchall() == [(1,)]
    (described,) = db.execute(
        "SELECT description FROM cnpj_duck_dictionary WHERE table_name = 'estabelecimentos' AND column_name IS NULL"
    ).fetchone()
    assert privacy.SUMMARY in described  # as export duckdb's comment says it: the dictionary is SQLite's comments
    db.close()
    plain = write_sqlite(Store(data), RELEASE, tmp_path / "plain.db", config=_config(data))
    assert not plain.privacy
    db = sqlite3.connect(tmp_path / "plain.db")  # off by default: the user's own copy, e-mails included
    assert db.execute(
        "SELECT count(correio_eletronico), max(privacy) FROM estabelecimentos, cnpj_duck_metadata"
    ).fetchall() == [(sum(r["correio_eletronico"] is not None for r in _parquet(data)), 0)]
    db.close()


@pytest.mark.slow
def test_export_postgres_with_privacy(personal: tuple[Path, dict, list], pg: Any) -> None:
    import adbc_driver_postgresql.dbapi as adbc_pg

    data, names, expected = personal
    summary = export_postgres(_config(data, **{"export.privacy": True}), pg.dsn(), schema="private")
    assert summary.privacy
    con = adbc_pg.connect(pg.dsn())
    cur = con.cursor()
    cur.execute(f"SELECT {', '.join(SHOWN)} FROM private.estabelecimentos")
    got = [dict(zip(SHOWN, r, strict=True)) for r in cur.fetchall()]
    _check_private(got, expected, _parquet(data), names)
    cur.execute(f"SELECT {', '.join(SHOWN)} FROM private.estabelecimentos_completos")
    got = [dict(zip(SHOWN, r, strict=True)) for r in cur.fetchall()]
    _check_private(got, expected, _parquet(data), names)  # the views read the rows through the rules too
    cur.execute("SELECT obj_description('private.estabelecimentos'::regclass)")
    assert privacy.SUMMARY in cur.fetchall()[0][0]
    cur.close()
    con.close()


def test_privacy_needs_empresas(sample_build: Any, tmp_path: Path) -> None:
    _, data, _ = sample_build
    bare = tmp_path / "data"
    for folder in ("parquet", "manifests"):
        (bare / folder).mkdir(parents=True)
        shutil.copytree(data / folder / "estabelecimentos", bare / folder / "estabelecimentos")
    with pytest.raises(UsageError, match="empresas is not built"):
        prepare_privacy(duckdb.connect(), Store(bare), RELEASE)


@pytest.mark.slow
def test_the_flag_and_the_config_key(personal: tuple[Path, dict, list], tmp_path: Path, capsys: Any) -> None:
    data, _, _ = personal
    code, out, _ = cli_run(capsys, "export", "duckdb", "--help")
    assert code == 0 and "--privacy" in out and "e-mail" in out
    code, out, err = cli_run(capsys, "--data-dir", str(data), "export", "sqlite", str(tmp_path / "c.db"), "--privacy")
    assert code == 0, err
    assert sqlite3.connect(tmp_path / "c.db").execute(
        "SELECT count(correio_eletronico) FROM estabelecimentos"
    ).fetchall() == [(0,)]
    (tmp_path / "config.yaml").write_text("export:\n  privacy: true\n", encoding="utf-8")
    assert load_config(tmp_path / "config.yaml", env={}).export_privacy is True
    assert load_config(None, env={"CNPJ_DUCK_EXPORT_PRIVACY": "yes"}).export_privacy is True
    assert load_config(None, env={}).export_privacy is False


@pytest.mark.slow
def test_lookup_with_privacy(personal: tuple[Path, dict, list], capsys: Any) -> None:
    data, names, expected = personal
    parquet = {r["cnpj"]: r for r in _parquet(data)}
    want = {r["cnpj"]: r for r in expected}
    individual = next(c for c in names if want[c]["logradouro"] is None)
    company = next(c for c in names if want[c]["logradouro"] is not None)
    code, out, err = cli_run(
        capsys, "--data-dir", str(data), "lookup", individual, company, "--privacy", "--format", "json"
    )
    assert code == 0, err
    for doc in json.loads(out):
        got, cnpj = doc["estabelecimento"], doc["cnpj"]
        assert doc["privacidade"] is True
        assert {c: got[c] for c in SHOWN} == {c: want[cnpj][c] for c in SHOWN}
        assert got["correio_eletronico"] is None and not CPF_LIKE.search(got["nome_fantasia"] or "")
    code, out, _ = cli_run(capsys, "--data-dir", str(data), "lookup", individual, "--format", "json")
    (doc,) = json.loads(out)
    assert (
        doc["privacidade"] is False and doc["estabelecimento"]["nome_fantasia"] == parquet[individual]["nome_fantasia"]
    )
    assert doc["estabelecimento"]["logradouro"] == parquet[individual]["logradouro"] is not None
    code, out, _ = cli_run(capsys, "--data-dir", str(data), "lookup", individual, "--privacy")
    assert code == 0 and "privacy rules applied" in " ".join(out.split())
