"""The serving file's lookup documents (cnpj_duck/serve/documents.py) on a small hand-made database: the integer
key, the ranges they are written in, and what a read of them returns (repeats, other check digits, misses)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cnpj_duck.cnpj import check_digits
from cnpj_duck.serve import documents
from cnpj_duck.serve.queries import read_documents

ROOTS = ("00000001", "0000000A", "12ABC345", "12ABC346", "99999999", "ZZZZZZZZ")


def cnpj(root: str, order: str = "0001", digits: str | None = None) -> str:
    first12 = root + order
    return first12 + (digits or check_digits(first12))


def test_the_key_is_the_text_in_base_36_in_python_and_in_sql():
    names = [cnpj(r, o) for r in ROOTS for o in ("0001", "0002", "A9Z0")]
    con = duckdb.connect()
    in_sql = dict(
        con.execute(
            f"SELECT c, {documents.key_sql('c')} FROM unnest(?::VARCHAR[]) t(c)",
            [names],
        ).fetchall()
    )
    assert in_sql == {n: documents.key(n) for n in names}
    assert sorted(names, key=documents.key) == sorted(names)  # the text's order: sorted by cnpj is sorted by k
    assert documents.key(cnpj("ZZZZZZZZ", "ZZZZ")) == 36**12 - 1 < 2**63  # fits a BIGINT


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> duckdb.DuckDBPyConnection:
    """The four tables, sorted by key as export duckdb writes them, and their documents in ranges of 2."""
    monkeypatch.setattr(documents, "CHUNK_ROWS", 2)
    con = duckdb.connect(str(tmp_path / "serve.duckdb"))
    estab = [(cnpj(r, o), r, o, datetime.date(2020, 1, 2), ["6201501", "6202300"]) for r in ROOTS for o in ("0001",)]
    estab.append((cnpj("12ABC345", "0002"), "12ABC345", "0002", None, None))
    estab.append((cnpj("12ABC345", "0002"), "12ABC345", "0002", datetime.date(1999, 9, 9), None))  # a repeat
    estab.append((cnpj("99999999", "0001", "00"), "99999999", "0001", None, []))  # other check digits
    con.execute(
        "CREATE TABLE e0 (cnpj VARCHAR, cnpj_basico VARCHAR, cnpj_ordem VARCHAR, data_inicio_atividade DATE, "
        "cnae_fiscal_secundaria VARCHAR[])"
    )
    con.executemany("INSERT INTO e0 VALUES (?, ?, ?, ?, ?)", estab)
    con.execute("CREATE TABLE estabelecimentos AS SELECT * FROM e0 ORDER BY cnpj")
    con.execute("CREATE TABLE empresas (cnpj_basico VARCHAR, razao_social VARCHAR, capital_social DECIMAL(18,2))")
    con.executemany(
        "INSERT INTO empresas VALUES (?, ?, ?)", [(r, f"EMPRESA {r}", Decimal("10.50")) for r in ROOTS[:-1]]
    )
    con.execute("CREATE TABLE simples (cnpj_basico VARCHAR, opcao_mei BOOLEAN)")
    con.executemany("INSERT INTO simples VALUES (?, ?)", [("0000000A", True), ("12ABC345", False)])
    con.execute("CREATE TABLE socios (cnpj_basico VARCHAR, nome VARCHAR)")
    con.executemany(
        "INSERT INTO socios VALUES (?, ?)", [("12ABC345", "PRIMEIRO"), ("12ABC345", "SEGUNDO"), ("99999999", "X")]
    )
    assert documents.write_documents(con) == len(estab)
    return con


def test_every_establishment_has_its_document_in_key_order(database: duckdb.DuckDBPyConnection):
    keys = [k for (k,) in database.execute(f"SELECT k FROM {documents.TABLE}").fetchall()]  # as stored
    assert keys == sorted(keys) and len(keys) == 9
    expected = [documents.key(c) for (c,) in database.execute("SELECT cnpj FROM estabelecimentos").fetchall()]
    assert keys == sorted(expected)


def test_a_read_gives_the_rows_as_the_tables_hold_them(database: duckdb.DuckDBPyConnection):
    layout = documents.read_layout(database)
    assert layout.empresas == ("cnpj_basico", "razao_social", "capital_social")
    asked = [cnpj("12ABC345", "0002"), cnpj("12ABC345"), cnpj("99999999"), cnpj("ZZZZZZZZ"), cnpj("55555555")]
    rows, related = read_documents(database, layout, asked)
    assert [r["cnpj"] for r in rows] == asked[:4]  # in the order asked; the absent one is left out
    repeat, first, nines, last = rows
    assert repeat["data_inicio_atividade"] is None  # the first of a repeated CNPJ's rows, in the table's order
    assert first["data_inicio_atividade"] == "2020-01-02" and first["cnae_fiscal_secundaria"] == ["6201501", "6202300"]
    assert nines["cnae_fiscal_secundaria"] == ["6201501", "6202300"]  # not the row with other check digits
    assert related.empresas["12ABC345"] == [
        {"cnpj_basico": "12ABC345", "razao_social": "EMPRESA 12ABC345", "capital_social": 10.5}
    ]
    assert related.simples["12ABC345"] == [{"cnpj_basico": "12ABC345", "opcao_mei": False}]
    assert [p["nome"] for p in related.socios["12ABC345"]] == ["PRIMEIRO", "SEGUNDO"]
    assert related.empresas["ZZZZZZZZ"] == related.socios["ZZZZZZZZ"] == []  # a company with no rows
    assert read_documents(database, layout, [cnpj("99999999", "0001", "00")])[0][0]["cnae_fiscal_secundaria"] == []
    assert read_documents(database, layout, [cnpj("55555555")]) == ([], read_documents(database, layout, [])[1])


def test_a_read_of_keys_in_several_row_groups_finds_each_of_them(
    database: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
):
    whole = documents.read_layout(database)
    assert len(whole.starts) == 1  # 9 rows: one row group
    monkeypatch.setattr(documents, "ROW_GROUP_ROWS", 2)  # as if each row group held two documents
    layout = documents.read_layout(database)
    assert len(layout.starts) == 5 and list(layout.starts) == sorted(layout.starts)
    names = [c for (c,) in database.execute("SELECT DISTINCT cnpj FROM estabelecimentos ORDER BY cnpj").fetchall()]
    keys = sorted({documents.key(c) for c in names})
    sql, _ = documents.read_sql(keys, layout)
    assert sql.count("UNION ALL") >= 3  # a part per row group the keys fall in
    assert read_documents(database, layout, names) == read_documents(database, whole, names)
    assert [r["cnpj"] for r in read_documents(database, layout, names[::-1])[0]] == names[::-1]
