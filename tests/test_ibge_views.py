"""codigo_municipio_ibge in estabelecimentos_completos: from the SIAFI-to-IBGE table the config key ibge names, in
the readers' views, the catalog file, export duckdb and export postgres; NULL for every row without one."""

from __future__ import annotations

import csv
import io
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cnpj_duck.catalog import connect_reader, describe_catalog, refresh_catalog
from cnpj_duck.config import load_config
from cnpj_duck.errors import UsageError
from cnpj_duck.export import export_postgres
from cnpj_duck.export_duckdb import write_duckdb
from cnpj_duck.export_sqlite import write_sqlite
from cnpj_duck.ibge import load_ibge
from cnpj_duck.store import Store

from .conftest import catalog, cli_run

RELEASE = "2026-10"
VIEW = "SELECT cnpj, municipio, codigo_municipio_ibge FROM estabelecimentos_completos"


def _write_mapping(path: Path, data: Path) -> dict[str, int]:
    """A table in the Tesouro's layout (header, Latin-1, SIAFI codes without their leading zeros) for every
    municipality of the sample but the first, with made-up IBGE codes; returns it as SIAFI -> IBGE."""
    con = duckdb.connect()
    codes = sorted(r[0] for r in Store(data).read_table(con, "municipios", RELEASE).project("codigo").fetchall())
    lines = ["CODIGO SIAFI;CNPJ;DESCRICAO;UF;CODIGO IBGE"]
    lines += [f"{int(code)};{n:014d};SÃO {code};XX;{5000000 + n}" for n, code in enumerate(codes) if n]
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    return {code: 5000000 + n for n, code in enumerate(codes) if n}


def _check(rows: list[tuple], mapping: dict[str, int]) -> None:
    assert rows and all(ibge == mapping.get(municipio) for _, municipio, ibge in rows)
    assert any(ibge is None for _, _, ibge in rows) and any(ibge is not None for _, _, ibge in rows)


@pytest.mark.slow
def test_the_view_has_the_ibge_code_with_the_file_and_null_without(sample_build: Any, tmp_path: Path) -> None:
    _, data, _ = sample_build
    config = load_config(None, overrides={"data_dir": str(data)}, env={})
    mapping = _write_mapping(tmp_path / "tabmun.csv", data)
    with_file = connect_reader(data, config.sql_dir, ibge_file=tmp_path / "tabmun.csv")
    without = connect_reader(data, config.sql_dir)
    try:
        _check(with_file.execute(VIEW).fetchall(), mapping)
        assert without.execute("SELECT count(codigo_municipio_ibge) FROM estabelecimentos_completos").fetchall() == [
            (0,)
        ]
        columns = [r[0] for r in with_file.execute("DESCRIBE estabelecimentos_completos").fetchall()]
        assert columns == [r[0] for r in without.execute("DESCRIBE estabelecimentos_completos").fetchall()]
        assert columns.index("codigo_municipio_ibge") == columns.index("municipio_descricao") + 1
        assert with_file.execute("SELECT count(*) FROM municipios_ibge").fetchall() == [(len(mapping),)]
    finally:
        with_file.close()
        without.close()


@pytest.mark.slow
def test_the_config_key_reaches_query_and_describe(sample_build: Any, tmp_path: Path, capsys: Any) -> None:
    _, data, _ = sample_build
    mapping = _write_mapping(tmp_path / "tabmun.csv", data)
    (tmp_path / "config.yaml").write_text(f"data_dir: {data}\nibge: tabmun.csv\n", encoding="utf-8")  # relative
    sql = "SELECT municipio, codigo_municipio_ibge FROM estabelecimentos_completos WHERE codigo_municipio_ibge > 0"
    code, out, err = cli_run(capsys, "--config", str(tmp_path / "config.yaml"), "query", sql, "--format", "csv")
    assert code == 0, err
    got = list(csv.reader(io.StringIO(out)))[1:]
    assert got and all(mapping[m] == int(i) for m, i in got)
    code, out, err = cli_run(capsys, "--config", str(tmp_path / "config.yaml"), "describe", "municipios_ibge")
    assert code == 0 and "codigo_ibge" in out, err
    con = connect_reader(data, load_config(None, env={}).sql_dir, documented=True)
    try:
        (found,) = [o for o in describe_catalog(con, load_config(None, env={}).sql_dir) if o.name == "municipios_ibge"]
        assert (
            found.kind == "table" and found.description and [c.name for c in found.columns] == ["codigo", "codigo_ibge"]
        )
    finally:
        con.close()
    (tmp_path / "bad.yaml").write_text(f"data_dir: {data}\nibge: missing.csv\n", encoding="utf-8")
    code, _, err = cli_run(capsys, "--config", str(tmp_path / "bad.yaml"), "query", "SELECT 1")
    assert code == 2 and err.startswith("error: ") and "missing.csv" in err and len(err.splitlines()) == 1


def test_the_old_key_serve_ibge_is_still_read(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("serve:\n  ibge: tabmun.csv\n", encoding="utf-8")
    config = load_config(tmp_path / "config.yaml", env={})
    assert config.ibge_path == (tmp_path / "tabmun.csv").resolve()
    assert load_config(None, env={"CNPJ_DUCK_SERVE_IBGE": "/x/old.csv"}).ibge == "/x/old.csv"
    both = {"CNPJ_DUCK_SERVE_IBGE": "/x/old.csv", "CNPJ_DUCK_IBGE": "/x/new.csv"}
    assert load_config(None, env=both).ibge == "/x/new.csv"
    assert load_config(None, env={}).ibge_path is None


@pytest.mark.slow
def test_the_catalog_file_and_export_duckdb_carry_the_codes(sample_build: Any, tmp_path: Path) -> None:
    _, built, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(built, data)
    mapping = _write_mapping(tmp_path / "tabmun.csv", data)
    config = load_config(None, overrides={"data_dir": str(data), "ibge": str(tmp_path / "tabmun.csv")}, env={})
    refreshed = refresh_catalog(data, config.sql_dir, config.ibge_path)
    assert "estabelecimentos_completos" in refreshed.views and not refreshed.problems
    con = catalog(data)
    _check(con.execute(VIEW).fetchall(), mapping)
    con.close()
    refreshed = refresh_catalog(data, config.sql_dir, tmp_path / "missing.csv")  # a bad file: a problem, no error
    assert any("missing.csv" in p for p in refreshed.problems) and "estabelecimentos_completos" in refreshed.views
    con = catalog(data)
    assert (
        con.execute("SELECT count(*), count(codigo_municipio_ibge) FROM estabelecimentos_completos").fetchall()[0][1]
        == 0
    )
    con.close()

    write_duckdb(Store(data), RELEASE, tmp_path / "ibge.duckdb", config=config)
    plain = load_config(None, overrides={"data_dir": str(data)}, env={})
    write_duckdb(Store(data), RELEASE, tmp_path / "plain.duckdb", config=plain)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("ibge.duckdb", "plain.duckdb"):
        shutil.move(tmp_path / name, elsewhere / name)  # the file alone: no data dir, no mapping file beside it
    (tmp_path / "tabmun.csv").unlink()
    con = duckdb.connect(str(elsewhere / "ibge.duckdb"), read_only=True)
    _check(con.execute(VIEW).fetchall(), mapping)
    assert con.execute(
        "SELECT count(*) FROM cnpj_duck_dictionary WHERE table_name = 'municipios_ibge' AND column_name IS NULL"
    ).fetchall() == [(1,)]
    con.close()
    con = duckdb.connect(str(elsewhere / "plain.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM municipios_ibge").fetchall() == [(0,)]
    assert con.execute("SELECT count(codigo_municipio_ibge) FROM estabelecimentos_completos").fetchall() == [(0,)]
    con.close()


@pytest.mark.slow
def test_export_postgres_carries_the_codes(sample_build: Any, pg: Any, tmp_path: Path) -> None:
    import adbc_driver_postgresql.dbapi as adbc_pg

    _, built, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(built, data)
    mapping = _write_mapping(tmp_path / "tabmun.csv", data)
    assert load_ibge(tmp_path / "tabmun.csv").by_siafi == mapping
    config = load_config(None, overrides={"data_dir": str(data), "ibge": str(tmp_path / "tabmun.csv")}, env={})
    export_postgres(config, pg.dsn(), schema="ibge", tables=["estabelecimentos_completos"])
    con = adbc_pg.connect(pg.dsn())
    cur = con.cursor()
    cur.execute(VIEW.replace("estabelecimentos_completos", "ibge.estabelecimentos_completos"))
    _check(cur.fetchall(), mapping)
    cur.close()
    con.close()


@pytest.mark.slow
def test_export_sqlite_carries_the_codes_as_a_table(sample_build: Any, tmp_path: Path) -> None:
    """SQLite has no views: municipios_ibge is a table of the file, joined by the user; empty without a file."""
    _, built, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(built, data)
    mapping = _write_mapping(tmp_path / "tabmun.csv", data)
    config = load_config(None, overrides={"data_dir": str(data), "ibge": str(tmp_path / "tabmun.csv")}, env={})
    write_sqlite(Store(data), RELEASE, tmp_path / "ibge.db", config=config)
    write_sqlite(
        Store(data), RELEASE, tmp_path / "plain.db", config=load_config(None, overrides={"data_dir": str(data)}, env={})
    )
    db = sqlite3.connect(tmp_path / "ibge.db")
    try:
        assert dict(db.execute("SELECT codigo, codigo_ibge FROM municipios_ibge").fetchall()) == mapping
        rows = db.execute(
            "SELECT e.cnpj, e.municipio, m.codigo_ibge FROM estabelecimentos e "
            "LEFT JOIN municipios_ibge m ON m.codigo = e.municipio"
        ).fetchall()
        _check(rows, mapping)
        described = db.execute(
            "SELECT column_name, data_type FROM cnpj_duck_dictionary WHERE table_name = 'municipios_ibge'"
        ).fetchall()
        assert described == [(None, None), ("codigo", "TEXT"), ("codigo_ibge", "INTEGER")]
    finally:
        db.close()
    db = sqlite3.connect(tmp_path / "plain.db")
    try:
        assert db.execute("SELECT count(*) FROM municipios_ibge").fetchall() == [(0,)]
    finally:
        db.close()
    bad = load_config(None, overrides={"data_dir": str(data), "ibge": str(tmp_path / "missing.csv")}, env={})
    with pytest.raises(UsageError, match="missing.csv"):  # named before the run starts: no file, no run
        write_sqlite(Store(data), RELEASE, tmp_path / "bad.db", config=bad)
    assert not (tmp_path / "bad.db").exists()
