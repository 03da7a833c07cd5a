"""End to end on the real sample zips of both naming generations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cnpj_duck.build import build
from cnpj_duck.progress import RecordingProgress

from .conftest import REAL_SAMPLES, catalog, rows

EXPECTED_2021 = {
    "simples": 1,
    "cnaes": 6,
    "motivos": 1,
    "municipios": 2,
    "naturezas": 2,
    "paises": 1,
    "qualificacoes": 4,
    "empresas": 2,
    "estabelecimentos": 2,
    "socios": 8,
}
EXPECTED_2022 = {
    "simples": 1,
    "cnaes": 6,
    "motivos": 2,
    "municipios": 1,
    "naturezas": 1,
    "paises": 1,
    "qualificacoes": 4,
    "empresas": 2,
    "estabelecimentos": 1,
    "socios": 7,
}


@pytest.mark.slow  # a build of a real sample, seconds
@pytest.mark.parametrize(("folder", "expected"), [("naming-2021", EXPECTED_2021), ("naming-2022", EXPECTED_2022)])
def test_real_samples_build_with_exact_counts(config, folder, expected):
    progress = RecordingProgress()
    summary = build(config, source=REAL_SAMPLES / folder, release="2021-06", progress=progress)
    assert summary.status == "succeeded"
    assert {t.name: t.rows_written for t in summary.tables} == expected
    assert all(t.rows_rejected == 0 for t in summary.tables)
    for table, count in expected.items():
        assert len(rows(config.data_dir, table)) == count
    # Not all 37 files are in the samples: the build says which are missing instead of failing.
    assert any("release files are missing" in w for w in summary.warnings)
    # Progress went through the protocol: one start and one finish per file, bytes add up to the member sizes.
    starts = [t for t, _ in progress.of("start") if t != "build"]
    finishes = [t for t, _ in progress.of("finish") if t != "build"]
    assert sorted(starts) == sorted(finishes) and len(starts) == sum(1 for _ in (REAL_SAMPLES / folder).glob("*.zip"))
    total = dict(progress.of("start"))["build"]["total"]
    assert sum(d["amount"] for t, d in progress.of("advance") if t == "build") == total


@pytest.mark.slow  # a build of a real sample, seconds
def test_real_sample_values_are_typed(config):
    build(config, source=REAL_SAMPLES / "naming-2021", release="2021-06")
    serpro = rows(config.data_dir, "empresas", "cnpj_basico = '33683111'")[0]
    assert serpro["razao_social"] == "SERVICO FEDERAL DE PROCESSAMENTO DE DADOS (SERPRO)"
    assert serpro["capital_social"] == Decimal("1061004829.23")
    assert serpro["natureza_juridica"] == "2011" and serpro["porte_empresa"] == "05"
    assert serpro["ente_federativo_responsavel"] is None
    assert serpro["release"] == "2021-06"

    okbr = rows(config.data_dir, "estabelecimentos", "cnpj = '19131243000197'")[0]
    assert okbr["cnpj_basico"] == "19131243" and okbr["cnpj_ordem"] == "0001" and okbr["cnpj_dv"] == "97"
    assert okbr["data_situacao_cadastral"] == dt.date(2013, 10, 3)
    assert okbr["cnae_fiscal_secundaria"] == ["9493600", "9499500", "8599699", "8230001", "6204000"]
    assert okbr["cep"] == "01311902" and okbr["municipio"] == "7107"
    assert okbr["ddd_2"] is None and okbr["situacao_especial"] is None and okbr["data_situacao_especial"] is None

    sede = rows(config.data_dir, "estabelecimentos", "cnpj = '33683111000107'")[0]
    assert sede["cnae_fiscal_secundaria"] is None  # "" -> NULL, not an empty list

    simples = rows(config.data_dir, "simples")[0]
    assert simples["cnpj_basico"] == "00000006"  # leading zeros kept
    assert simples["opcao_simples"] is False and simples["opcao_mei"] is False
    assert simples["data_opcao_simples"] == dt.date(2018, 1, 1)
    assert simples["data_opcao_mei"] is None  # 00000000

    socio = rows(config.data_dir, "socios", "nome_socio_razao_social = 'FERNANDA CAMPAGNUCCI PEREIRA'")[0]
    assert socio["cnpj_cpf_socio"] == "***690948**" and socio["faixa_etaria"] == "4"
    assert socio["data_entrada_sociedade"] == dt.date(2019, 10, 25)

    # latin-1 accents decoded
    cnae = rows(config.data_dir, "cnaes", "codigo = '9430800'")[0]
    assert cnae["descricao"] == "Atividades de associações de defesa de direitos sociais"
    natureza = {r["codigo"]: r["descricao"] for r in rows(config.data_dir, "naturezas")}
    assert natureza == {"2011": "Empresa Pública", "3999": "Associação Privada"}


@pytest.mark.slow  # a build of a real sample, seconds
def test_real_sample_2022_blank_last_line_and_audit(config):
    summary = build(config, source=REAL_SAMPLES / "naming-2022", release="2025-02")
    est = rows(config.data_dir, "estabelecimentos")
    assert [r["cnpj"] for r in est] == ["33683111000280"]
    motivos = {r["codigo"]: r["descricao"] for r in rows(config.data_dir, "motivos")}
    assert motivos["00"] == "SEM  MOTIVO"  # the double space is the source's, kept
    con = catalog(config.data_dir)
    ((status, read, written, rejected),) = con.execute(
        "SELECT status, rows_read, rows_written, rows_rejected FROM audit_runs WHERE run_id = ?", [summary.run_id]
    ).fetchall()
    assert (status, read, written, rejected) == ("succeeded", 26, 26, 0)
    files = con.execute(
        "SELECT zip_name, member_name, length(sha256), rows_read FROM audit_files ORDER BY zip_name"
    ).fetchall()
    assert ("Estabelecimentos0.zip", "Estabelecimentos0", 64, 1) in files
    assert len(files) == 11
