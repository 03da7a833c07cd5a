"""CNPJ parsing and check digits (Python and SQL agree), and `lookup` on the session's built sample."""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import pytest

from cnpj_duck.build import BuildSummary
from cnpj_duck.cnpj import InvalidCnpjError, check_digits, format_cnpj, is_valid, normalize, parse
from cnpj_duck.config import load_config
from cnpj_duck.errors import UsageError
from cnpj_duck.layout import FAMILIES
from cnpj_duck.lookup import lookup
from cnpj_duck.sample import ORPHAN_CODES, SampleManifest, cnpj_check_digits

from .conftest import REPO_ROOT, cli_run, copy_table, rows

run = cli_run

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# --- CNPJ numbers ---------------------------------------------------------------------------------------


def test_check_digits_of_known_cnpjs() -> None:
    assert check_digits("123456780001") == "95"
    assert check_digits("12ABC34501DE") == "35"  # the Receita's example of an alphanumeric CNPJ
    assert check_digits("000000000001") == "91"
    assert is_valid("12ABC34501DE35") and not is_valid("12ABC34501DE36") and not is_valid("12abc34501de35")


@pytest.mark.parametrize("typed", ["12.345.678/0001-95", "12345678000195", " 12 345 678 0001 95 ", "12.345.678/000195"])
def test_numeric_spellings_parse_to_one_cnpj(typed: str) -> None:
    assert parse(typed) == "12345678000195"


@pytest.mark.parametrize("typed", ["12.ABC.345/01DE-35", "12abc34501de35", "12.abc.345/01de-35"])
def test_alphanumeric_spellings_parse_to_one_cnpj(typed: str) -> None:
    assert parse(typed) == "12ABC34501DE35"
    assert format_cnpj(parse(typed)) == "12.ABC.345/01DE-35"


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("12.345.678/0001-96", "wrong check digits '96', expected '95' (the second one differs)"),
        ("12.345.678/0001-05", "expected '95' (the first one differs)"),
        ("12.345.678/0001-59", "expected '95' (both differ)"),
        ("12.ABC.345/01DE-36", "expected '35'"),
        ("1234567800019", "has 13 characters"),
        ("123456780001955", "has 15 characters"),
        ("", "has 0 characters"),
        ("12.345.678/0001-9A", "must be 0-9, not '9A'"),
        ("12#456780001-95", "character '#' not allowed"),
        ("12.ÇBC.345/01DE-35", "character 'Ç' not allowed"),
    ],
)
def test_invalid_cnpjs_say_what_is_wrong(typed: str, says: str) -> None:
    with pytest.raises(InvalidCnpjError, match="CNPJ .*") as e:
        parse(typed)
    assert says in str(e.value) and repr(typed.strip()) in str(e.value)
    assert isinstance(e.value, UsageError) and e.value.exit_code == 2


def test_python_and_sql_check_digits_agree_on_many_values() -> None:
    rng = random.Random(5)
    values: list[str] = []
    for _ in range(3000):
        alphabet = "0123456789" if rng.random() < 0.5 else ALNUM
        first12 = "".join(rng.choice(alphabet) for _ in range(12))
        good = first12 + check_digits(first12)
        values.append(good)
        values.append(first12 + f"{rng.randrange(100):02d}")  # usually wrong digits
        bad = list(good)
        bad[rng.randrange(14)] = rng.choice(ALNUM)  # one character changed: a typo
        values.append("".join(bad))
    values += [
        "12ABC34501DE35",
        "12abc34501de35",
        "12.ABC.345/01DE-35",
        "1234567800019",
        "",
        "12ABC34501DE3A",
        "12ÇBC34501DE35",
        "12ABC34501DE350",
        "00000000000000",
    ]
    con = duckdb.connect()
    con.execute((REPO_ROOT / "sql" / "_macros.sql").read_text(encoding="utf-8"))
    got = dict(con.execute("SELECT v, cnpj_is_valid(v) FROM unnest(?::VARCHAR[]) t(v)", [values]).fetchall())
    prefixes = [v[:12] for v in values if len(v) == 14 and all(c in ALNUM for c in v[:12])]
    digits = dict(con.execute("SELECT v, cnpj_check_digits(v) FROM unnest(?::VARCHAR[]) t(v)", [prefixes]).fetchall())
    assert {v: is_valid(v) for v in values} == got
    assert sum(got.values()) > 3000 and len(got) - sum(got.values()) > 5000  # both kinds, plenty of each
    assert all(check_digits(p) == d == cnpj_check_digits(p) for p, d in digits.items())  # the generator's too
    assert con.execute("SELECT cnpj_is_valid(NULL)").fetchall() == [(None,)]


def test_normalize_keeps_what_it_cannot_judge() -> None:
    assert normalize(" 12.abc.345/01de-35\t") == "12ABC34501DE35"
    assert format_cnpj("123") == "123"


# --- lookup ---------------------------------------------------------------------------------------------


def pick(data_dir: Path, where: str) -> dict:
    found = rows(data_dir, "estabelecimentos", where + " ORDER BY cnpj LIMIT 1")
    assert found, where
    found[0].pop("release")  # the hive partition column, not a column of the table
    return found[0]


def test_lookup_numeric_cnpj_shows_everything(
    sample_build: tuple[SampleManifest, Path, BuildSummary], capsys: pytest.CaptureFixture[str]
) -> None:
    _, data_dir, _ = sample_build
    config = load_config(None, overrides={"data_dir": str(data_dir)}, env={})
    # A company with partners, Simples and secondary CNAEs, typed with punctuation.
    with duckdb.connect() as con:
        basico = con.execute(
            f"SELECT e.cnpj_basico FROM read_parquet('{data_dir}/parquet/estabelecimentos/*/*.parquet') e "
            f"JOIN read_parquet('{data_dir}/parquet/socios/*/*.parquet') s USING (cnpj_basico) "
            f"JOIN read_parquet('{data_dir}/parquet/simples/*/*.parquet') USING (cnpj_basico) "
            "WHERE e.cnae_fiscal_secundaria IS NOT NULL AND e.cnpj_basico SIMILAR TO '[0-9]{8}' "
            "GROUP BY ALL HAVING count(DISTINCT e.cnpj) = 1 AND count(*) > 1 ORDER BY 1 LIMIT 1"
        ).fetchall()[0][0]
    estab = pick(data_dir, f"cnpj_basico = '{basico}'")
    (result,) = lookup(config, [format_cnpj(estab["cnpj"])])
    assert result.found and result.release == "2026-10" and result.cnpj == estab["cnpj"]
    row = result.estabelecimentos[0]
    assert {k: v for k, v in row.items() if not k.endswith("_descricao")} == estab
    cnaes = {r["codigo"]: r["descricao"] for r in rows(data_dir, "cnaes")}
    assert row["cnae_fiscal_principal_descricao"] == cnaes.get(estab["cnae_fiscal_principal"])
    assert (
        row["situacao_cadastral_descricao"]
        == {"01": "NULA", "02": "ATIVA", "03": "SUSPENSA", "04": "INAPTA", "08": "BAIXADA"}[estab["situacao_cadastral"]]
    )
    assert row["identificador_matriz_filial_descricao"] == "MATRIZ"
    assert [(c["codigo"], c["descricao"]) for c in result.cnaes_secundarias] == [
        (c, cnaes.get(c)) for c in estab["cnae_fiscal_secundaria"]
    ]
    empresa = rows(data_dir, "empresas", "cnpj_basico = ?", [basico])
    assert len(result.empresas) == 1 and result.empresas[0]["razao_social"] == empresa[0]["razao_social"]
    naturezas = {r["codigo"]: r["descricao"] for r in rows(data_dir, "naturezas")}
    assert result.empresas[0]["natureza_juridica_descricao"] == naturezas.get(empresa[0]["natureza_juridica"])
    socios = rows(data_dir, "socios", "cnpj_basico = ?", [basico])
    assert sorted(s["nome_socio_razao_social"] for s in result.socios) == sorted(
        s["nome_socio_razao_social"] for s in socios
    )
    assert all(
        s["qualificacao_socio_descricao"] or s["qualificacao_socio"] in ORPHAN_CODES["qualificacoes"]
        for s in result.socios
    )
    simples = rows(data_dir, "simples", "cnpj_basico = ?", [basico])
    assert [s["opcao_simples"] for s in result.simples] == [s["opcao_simples"] for s in simples]
    assert result.matriz_cnpj == (estab["cnpj"],) and result.establishments_of_company == 1
    assert result.warnings() == []

    code, out, err = run(capsys, "--data-dir", str(data_dir), "lookup", estab["cnpj"], "--format", "json")
    assert code == 0, err
    (doc,) = json.loads(out)
    assert doc["cnpj_formatado"] == format_cnpj(estab["cnpj"]) and doc["found"] is True
    assert doc["estabelecimento"]["cnae_fiscal_secundaria"] == estab["cnae_fiscal_secundaria"]
    assert doc["empresa"]["razao_social"] == empresa[0]["razao_social"] and len(doc["socios"]) == len(socios)
    assert doc["matriz_cnpj"] == [estab["cnpj"]] and doc["duplicados"] == {} and doc["avisos"] == []

    code, out, err = run(capsys, "--data-dir", str(data_dir), "lookup", format_cnpj(estab["cnpj"]))
    assert code == 0, err
    assert format_cnpj(estab["cnpj"]) in out and empresa[0]["razao_social"] in out and "Socios" in out


def test_lookup_alphanumeric_cnpj_and_its_branch(sample_build: tuple[SampleManifest, Path, BuildSummary]) -> None:
    manifest, data_dir, _ = sample_build
    config = load_config(None, overrides={"data_dir": str(data_dir)}, env={})
    # The generator's newest company has an alphanumeric root and a filial with an alphanumeric ordem.
    filial = pick(data_dir, "regexp_matches(cnpj_ordem, '[A-Z]')")
    assert not filial["cnpj_basico"].isdigit()
    typed = format_cnpj(filial["cnpj"]).lower()
    (result,) = lookup(config, [typed])
    assert result.found and result.cnpj == filial["cnpj"]
    row = result.estabelecimentos[0]
    assert row["identificador_matriz_filial"] == "2" and row["identificador_matriz_filial_descricao"] == "FILIAL"
    matriz = pick(data_dir, f"cnpj_basico = '{filial['cnpj_basico']}' AND identificador_matriz_filial = '1'")
    assert result.matriz_cnpj == (matriz["cnpj"],) and result.establishments_of_company == 2
    assert result.empresas and result.empresas[0]["cnpj_basico"] == filial["cnpj_basico"]


def test_lookup_shows_orphan_codes_with_no_description(
    sample_build: tuple[SampleManifest, Path, BuildSummary],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, data_dir, _ = sample_build
    monkeypatch.setenv("COLUMNS", "200")  # rich's width: no line wrapped inside the panel
    config = load_config(None, overrides={"data_dir": str(data_dir)}, env={})
    estab = pick(data_dir, "motivo_situacao_cadastral = '32'")  # motivo 32 is missing from motivos (§5)
    (result,) = lookup(config, [estab["cnpj"]])
    row = result.estabelecimentos[0]
    assert row["motivo_situacao_cadastral"] == "32" and row["motivo_situacao_cadastral_descricao"] is None
    assert row["municipio_descricao"] is not None  # the other codes of the same row are described
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "lookup", estab["cnpj"])
    assert code == 0 and "32 - (no description: code missing from its lookup)" in out
    with duckdb.connect() as con:
        orphan = con.execute(
            f"SELECT cnpj_basico FROM read_parquet('{data_dir}/parquet/empresas/*/*.parquet') "
            "WHERE natureza_juridica IN ('2291', '3328', '8885') ORDER BY 1 LIMIT 1"
        ).fetchall()
    estab = pick(data_dir, f"cnpj_basico = '{orphan[0][0]}'")
    (result,) = lookup(config, [estab["cnpj"]])
    assert result.empresas[0]["natureza_juridica"] in ORPHAN_CODES["naturezas"]
    assert result.empresas[0]["natureza_juridica_descricao"] is None


def test_lookup_duplicate_key_shows_every_row(sample_build: tuple[SampleManifest, Path, BuildSummary]) -> None:
    manifest, data_dir, _ = sample_build
    config = load_config(None, overrides={"data_dir": str(data_dir)}, env={})
    (quirk,) = [q for q in manifest.quirks if q.family == "estabelecimentos" and q.kind == "duplicate_key"]
    cnpj = quirk.key["cnpj_basico"] + quirk.key["cnpj_ordem"] + quirk.key["cnpj_dv"]
    (result,) = lookup(config, [cnpj])
    assert len(result.estabelecimentos) == 2
    assert {r["situacao_cadastral"] for r in result.estabelecimentos} == {
        r["situacao_cadastral"] for r in rows(data_dir, "estabelecimentos", "cnpj = ?", [cnpj])
    }
    assert result.establishments_of_company == 1 and len(result.matriz_cnpj) == 1
    assert "estabelecimentos has 2 rows" in result.warnings()[0]
    doc = result.to_dict()
    assert doc["estabelecimento"] == result.estabelecimentos[0]
    assert doc["duplicados"] == {"estabelecimentos": [result.estabelecimentos[1]]}


def test_lookup_errors_and_exit_codes(
    sample_build: tuple[SampleManifest, Path, BuildSummary], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, data_dir, _ = sample_build
    estab = pick(data_dir, "cnpj_basico SIMILAR TO '[0-9]{8}'")
    good = estab["cnpj"]
    args = ["--data-dir", str(data_dir), "lookup"]

    code, out, err = run(capsys, *args, good[:12] + ("00" if good[12:] != "00" else "11"))
    assert code == 2 and out == "" and "wrong check digits" in err and "Traceback" not in err
    code, out, err = run(capsys, *args, "12.ABC.345/01DE-36", "123")  # both named in one line
    assert code == 2 and "'12.ABC.345/01DE-36'" in err and "'123': has 3 characters" in err
    assert len(err.strip().splitlines()) == 1

    # Valid check digits, but not in the data: exit 1 after the CNPJs that were found are shown.
    absent = "99999999" + "0001" + check_digits("999999990001")
    assert not rows(data_dir, "estabelecimentos", "cnpj_basico = '99999999'")
    code, out, err = run(capsys, *args, good, absent, "--format", "json")
    docs = json.loads(out)
    assert code == 1 and [d["found"] for d in docs] == [True, False]
    assert f"CNPJ {format_cnpj(absent)} not found in release 2026-10" in err
    # A branch number that does not exist, of a company that does: the message points at the company.
    other = estab["cnpj_basico"] + "0999"
    other += check_digits(other)
    code, out, err = run(capsys, *args, other)
    assert code == 1 and f"its company {estab['cnpj_basico']} has 1 establishment(s)" in err
    assert f"head office {format_cnpj(estab['cnpj'])}" in err

    code, _, err = run(capsys, *args, good, "--release", "2026-09")
    assert code == 2 and "not built for it (built: 2026-10)" in err
    code, _, err = run(capsys, "--data-dir", str(tmp_path / "empty"), "lookup", good)
    assert code == 2 and "no built release of estabelecimentos" in err


def test_lookup_with_tables_missing_from_the_release(
    sample_build: tuple[SampleManifest, Path, BuildSummary], tmp_path: Path
) -> None:
    _, data_dir, _ = sample_build
    copy = tmp_path / "data"
    copy_table(data_dir, copy, "estabelecimentos")
    config = load_config(None, overrides={"data_dir": str(copy)}, env={})
    estab = pick(data_dir, "motivo_situacao_cadastral = '00'")
    (result,) = lookup(config, [estab["cnpj"]])
    assert result.found and not result.empresas and not result.socios
    assert result.estabelecimentos[0]["motivo_situacao_cadastral_descricao"] is None  # no motivos built
    assert "not built for 2026-10: empresas, simples, socios, cnaes" in result.warnings()[0]


# --- damaged part files, JSON numbers -------------------------------------------------------------------


def test_lookup_on_a_damaged_part_file_names_its_table_and_release(
    sample_build: tuple[SampleManifest, Path, BuildSummary], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data_dir, _ = sample_build
    estab = pick(data_dir, "motivo_situacao_cadastral IS NOT NULL")
    for table, damage in (
        ("motivos", "truncate"),
        ("motivos", "inside"),
        ("municipios", "inside"),
        ("estabelecimentos", "inside"),
        ("empresas", "truncate"),
    ):
        copy = tmp_path / f"{table}-{damage}"
        for name in FAMILIES:
            copy_table(data_dir, copy, name)
        part = copy / "parquet" / table / "release=2026-10" / "part-0.parquet"
        data = part.read_bytes()
        # `truncate -s 100` leaves no footer (DuckDB names the file); damage inside keeps the footer and breaks
        # the pages (DuckDB names no file: the lookups joined to the row are read whole to find the bad one).
        part.write_bytes(data[:100] if damage == "truncate" else data[:4] + b"\xab" * (len(data) - 204) + data[-200:])
        code, out, err = run(capsys, "--data-dir", str(copy), "lookup", estab["cnpj"])
        assert code == 1 and out == "", (table, damage, err)
        (line,) = err.strip().splitlines()
        assert line.startswith(f"error: {table} of release 2026-10: "), (damage, line)
        assert line.endswith(f"; rebuild it with `cnpj-duck build --release 2026-10 --force --tables {table}`")
        assert "internal error" not in line and (damage == "inside" or str(part) in line)


def test_lookup_json_writes_decimals_as_query_does(
    sample_build: tuple[SampleManifest, Path, BuildSummary], capsys: pytest.CaptureFixture[str]
) -> None:
    from decimal import Decimal

    _, data_dir, _ = sample_build
    with duckdb.connect() as con:
        cnpj, basico, capital = con.execute(
            f"SELECT e.cnpj, e.cnpj_basico, m.capital_social FROM "
            f"read_parquet('{data_dir}/parquet/estabelecimentos/*/*.parquet') e JOIN "
            f"read_parquet('{data_dir}/parquet/empresas/*/*.parquet') m USING (cnpj_basico) "
            "WHERE m.capital_social % 1 = 0 AND m.capital_social > 0 ORDER BY e.cnpj LIMIT 1"
        ).fetchall()[0]
    code, out, err = run(capsys, "--data-dir", str(data_dir), "lookup", cnpj, "--format", "json")
    assert code == 0, err
    (found,) = json.loads(out, parse_float=Decimal)
    assert found["empresa"]["capital_social"] == capital and isinstance(found["empresa"]["capital_social"], Decimal)
    assert f'"capital_social": {capital}' in out and str(capital).endswith(".00")  # 20000.00: exact, not a string
    code, out, err = run(
        capsys,
        "--data-dir",
        str(data_dir),
        "query",
        "--format",
        "json",
        f"SELECT capital_social FROM empresas WHERE cnpj_basico = '{basico}'",
    )
    assert code == 0, err
    assert f'"capital_social":{capital}' in out  # query writes the same number


def test_lookup_takes_a_company_root_for_all_its_establishments(sample_build, capsys) -> None:
    # Issue 12 (12): `lookup 00037130` failed with a check-digit message.
    _, data_dir, _ = sample_build
    con = duckdb.connect()
    files = f"{data_dir}/parquet/estabelecimentos/release=2026-10/*.parquet"
    root, count = con.sql(
        f"SELECT cnpj_basico, count(*) FROM read_parquet('{files}') GROUP BY ALL "
        "HAVING count(*) > 1 AND count(DISTINCT cnpj) = count(*) ORDER BY 1 LIMIT 1"
    ).fetchall()[0]
    expected = [
        r[0]
        for r in con.sql(
            f"SELECT cnpj FROM read_parquet('{files}') WHERE cnpj_basico = '{root}' ORDER "
            "BY substr(cnpj, 9, 4) <> '0001', cnpj"
        ).fetchall()
    ]
    code, out, err = run(
        capsys, "--data-dir", str(data_dir), "lookup", f"{root[:2]}.{root[2:5]}.{root[5:]}", "--format", "json"
    )
    assert code == 0, err
    found = json.loads(out)
    assert [doc["cnpj"] for doc in found] == expected and len(found) == count
    code, out, err = run(capsys, "--data-dir", str(data_dir), "lookup", "ZZZZZZZZ")
    assert code == 1 and out == "" and "company root ZZZZZZZZ: no establishment in release 2026-10" in err
