"""End to end on a generated release: exact counts, rejects at the generator's lines, quirk rows typed right."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from cnpj_duck.build import build
from cnpj_duck.config import load_config
from cnpj_duck.layout import FAMILIES
from cnpj_duck.sample import SampleManifest

from .conftest import catalog, rows

NULL_DATES = {"date_zero", "date_zeros", "date_empty", "date_7_chars", "date_impossible", "date_absurd_year"}
KEPT_AS_IS = {
    "semicolon_in_value",
    "newline_in_value",
    "c1_control_byte",
    "orphan_motivo",
    "orphan_pais",
    "orphan_natureza",
    "orphan_qualificacao",
    "cep_7_digits",
    "cep_zero",
    "cep_letters",
    "cep_spaces",
    "numero_sn",
    "numero_sn_compact",
    "numero_sn_spaced",
    "pais_brasil",
    "abroad",
    "masked_cpf",
    "pj_socio",
    "legal_representative",
    "ente_apostrophe",
    "cpf_in_name",
}


@pytest.fixture(scope="module")
def built(sample_build: tuple[SampleManifest, Path, object]) -> tuple[SampleManifest, Path, object]:
    return sample_build


@pytest.mark.slow
def test_counts_match_the_generator_exactly(built):
    manifest, data_dir, summary = built
    assert summary.status == "succeeded" and summary.warnings == ()
    by_name = {t.name: t for t in summary.tables}
    for family in FAMILIES:
        malformed = sum(f.malformed for f in manifest.files if f.family == family)
        table = by_name[family]
        assert table.rows_written == manifest.expected_rows(family), family
        assert table.rows_rejected == malformed, family
        assert table.rows_read == table.rows_written + table.rows_rejected, family
        assert table.files == FAMILIES[family].file_count
        assert len(rows(data_dir, family)) == manifest.expected_rows(family), family


@pytest.mark.slow
def test_rejects_sit_at_the_generators_lines_with_the_right_reason(built):
    manifest, data_dir, _ = built
    got = (
        catalog(data_dir).execute("SELECT zip_name, line, reason, raw FROM rejects ORDER BY zip_name, line").fetchall()
    )
    want = sorted((m.zip_name, m.line, m.kind, m.text) for m in manifest.malformed)
    assert len(got) == len(want) and len(want) >= 9
    for (zip_name, line, reason, raw), (w_zip, w_line, kind, text) in zip(got, want, strict=True):
        assert (zip_name, line) == (w_zip, w_line)
        assert reason.startswith("unterminated_quote" if kind == "unterminated_quote" else "field_count"), kind
        assert raw == text


def _find(data_dir: Path, family: str, key: dict[str, str]) -> list[dict]:
    if family == "estabelecimentos":
        return rows(data_dir, family, "cnpj = ?", [key["cnpj_basico"] + key["cnpj_ordem"] + key["cnpj_dv"]])
    if family == "socios":
        return rows(
            data_dir,
            family,
            "cnpj_basico = ? AND nome_socio_razao_social = ?",
            [key["cnpj_basico"], key["nome_socio_razao_social"].strip(" ")],
        )
    column = "codigo" if "codigo" in key else "cnpj_basico"
    return rows(data_dir, family, f"{column} = ?", [key[column]])


@pytest.mark.slow
def test_quirk_rows_come_out_typed_and_clean(built):
    manifest, data_dir, _ = built
    checked = set()
    for q in manifest.quirks:
        if q.kind == "blank_last_line":
            continue
        found = _find(data_dir, q.family, q.key)
        assert found, (q.family, q.kind, q.key)
        value = found[0][q.column]
        raw = q.raw
        if q.kind in NULL_DATES:
            assert value is None, (q.kind, raw)
        elif q.kind in KEPT_AS_IS:
            assert value == raw.strip(" "), (q.kind, raw, value)
        elif q.kind == "nul_byte":
            assert value == raw.replace("\x00", "") and "\x00" not in value
        elif q.kind == "leading_trailing_spaces":
            assert value == raw.strip(" ") and "  " in value  # inner runs kept
        elif q.kind in ("capital_negative", "capital_sentinel"):
            assert value == Decimal(raw.replace(",", ".")) and value.as_tuple().exponent == -2
        elif q.kind == "alphanumeric_cnpj":
            assert value == raw and not raw.isdigit()
            if q.family == "estabelecimentos":
                assert found[0]["cnpj"] == q.key["cnpj_basico"] + q.key["cnpj_ordem"] + q.key["cnpj_dv"]
        elif q.kind == "duplicate_row":
            assert len(found) >= 2 and found[0] == found[1]  # duplicates are kept, never dropped silently
        elif q.kind == "duplicate_key":
            assert len(found) >= 2
        elif q.kind == "long_cnae_list":
            assert value == raw.split(",") and len(value) > 50
        elif q.kind == "opcao_blank":
            assert value is None
        elif q.kind == "foreign_socio":
            assert value == "3" and found[0]["cnpj_cpf_socio"] is None
        else:
            pytest.fail(f"no check for quirk kind {q.kind}")
        checked.add(q.kind)
    assert len(checked) >= 30


@pytest.mark.slow
def test_types_and_sort_order(built):
    _, data_dir, _ = built
    import pyarrow.parquet as pq

    files = sorted((data_dir / "parquet" / "estabelecimentos" / "release=2026-10").glob("*.parquet"))
    assert [f.name for f in files] == [f"part-{i}.parquet" for i in range(10)]
    schema = pq.read_schema(files[0])
    assert str(schema.field("data_inicio_atividade").type) == "date32[day]"
    assert str(schema.field("cnae_fiscal_secundaria").type).startswith("list<")
    table = pq.read_table(files[0], columns=["cnpj"])
    cnpjs = table.column("cnpj").to_pylist()
    assert cnpjs == sorted(cnpjs)  # sorted by key so lookups prune row groups
    simples = pq.read_schema(data_dir / "parquet" / "simples" / "release=2026-10" / "part-0.parquet")
    assert str(simples.field("opcao_mei").type) == "bool"
    empresas = pq.read_schema(data_dir / "parquet" / "empresas" / "release=2026-10" / "part-0.parquet")
    assert str(empresas.field("capital_social").type) == "decimal128(18, 2)"
    dates = rows(data_dir, "estabelecimentos", "data_inicio_atividade IS NOT NULL")
    assert all(dt.date(1800, 1, 1) <= r["data_inicio_atividade"] < dt.date(2100, 1, 1) for r in dates)


@pytest.mark.slow
def test_audit_tree_adds_up(built):
    _, data_dir, summary = built
    con = catalog(data_dir)
    metrics = "rows_read, rows_written, rows_rejected, bytes_in"
    for parent, child, key in (
        ("audit_files", "audit_batches", "file_id"),
        ("audit_tables", "audit_files", "table_run_id"),
        ("audit_runs", "audit_tables", "run_id"),
    ):
        mismatched = con.execute(
            f"SELECT p.{key} FROM {parent} p JOIN (SELECT {key}, sum(rows_read) r, sum(rows_written) w, "
            f"sum(rows_rejected) j, sum(bytes_in) b FROM {child} GROUP BY {key}) c USING ({key}) "
            "WHERE (p.rows_read, p.rows_written, p.rows_rejected, p.bytes_in) <> (c.r, c.w, c.j, c.b)"
        ).fetchall()
        assert mismatched == [], (parent, child)
    for table in ("audit_runs", "audit_tables", "audit_files", "audit_batches"):
        bad = con.execute(
            f"SELECT count(*) FROM {table} WHERE rows_read <> rows_written + rows_rejected OR status <> 'succeeded'"
        ).fetchone()
        assert bad == (0,), table
    (read,) = con.execute(f"SELECT rows_read FROM audit_runs WHERE run_id = {summary.run_id}").fetchone()
    assert read == sum(t.rows_read for t in summary.tables)
    (metrics_row,) = con.execute(f"SELECT {metrics} FROM audit_runs").fetchall()
    assert metrics_row[0] > 0


@pytest.mark.slow
def test_development_run_is_partial_and_never_reused(built, tmp_path):
    manifest, _, _ = built
    config = load_config(None, overrides={"data_dir": str(tmp_path / "data")}, env={})
    quick = build(config, source=manifest.folder, limit_rows=1000, max_files=2)
    assert quick.partial and quick.status == "succeeded"
    by_name = {t.name: t for t in quick.tables}
    assert by_name["estabelecimentos"].files == 2
    assert 2000 <= by_name["estabelecimentos"].rows_written < manifest.expected_rows("estabelecimentos")
    assert by_name["cnaes"].rows_written == 1359  # small files are read whole
    for t in quick.tables:
        assert t.rows_read == t.rows_written + t.rows_rejected
    con = catalog(config.data_dir)
    assert con.execute("SELECT partial FROM audit_runs").fetchall() == [(True,)]
    notes = con.execute("SELECT count(*) FROM audit_files WHERE note LIKE 'partial: stopped after%'").fetchone()
    assert notes[0] >= 4
    con.close()
    from cnpj_duck.store import Store

    cut = {t for t in FAMILIES if Store(config.data_dir).manifest(t, "2026-10")["partial"]}
    assert {"estabelecimentos", "empresas", "socios"} <= cut
    full = build(config, source=manifest.folder)
    # a partial output is never reused; a table the dev run read whole (issue 12: the lookups) is
    assert {t.name for t in full.tables if t.status == "succeeded"} == cut
    assert {t.status for t in full.tables if t.name not in cut} <= {"skipped"}
    assert {t.name: t.rows_written for t in full.tables}["estabelecimentos"] == manifest.expected_rows(
        "estabelecimentos"
    )


@pytest.mark.slow
def test_every_output_column_has_a_description_in_its_sql_file(built):
    _, data_dir, _ = built
    import pyarrow.parquet as pq

    from cnpj_duck.sqlproject import describe_sql

    from .conftest import REPO_ROOT

    for family in FAMILIES:
        sql = (REPO_ROOT / "sql" / f"{family}.sql").read_text(encoding="utf-8")
        table_doc, columns = describe_sql(sql)
        schema = pq.read_schema(next((data_dir / "parquet" / family).glob("*/part-0.parquet")))
        assert table_doc and not table_doc.startswith(family), family
        assert set(columns) == set(schema.names), family
        assert all(len(text) > 5 for text in columns.values()), family


@pytest.mark.slow
def test_the_quick_try_works_on_files_larger_than_the_limit(tmp_path, capsys):
    # Issue 12 (1): `build --limit-rows 10000 --max-files-per-table 1` failed ("must keep every row") as soon as a
    # file had more rows than the limit: rows parsed ahead of the writer were counted as input.
    from cnpj_duck.cli import main
    from cnpj_duck.sample import generate_release
    from cnpj_duck.store import Store

    folder = generate_release(tmp_path / "raw", release="2026-10", scale=0.003, seed=11, workers=2).folder
    data = tmp_path / "data"
    try:
        main(
            [
                "--data-dir",
                str(data),
                "build",
                "--source",
                str(folder),
                "--limit-rows",
                "10000",
                "--max-files-per-table",
                "1",
                "--quiet",
            ]
        )
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    assert code == 0, capsys.readouterr().err
    store = Store(data)
    empresas = store.manifest("empresas", "2026-10")
    assert empresas is not None and empresas["partial"]
    assert 10_000 <= empresas["parts"]["part-0.parquet"]["rows"] < 17_000
    for lookup in ("cnaes", "motivos", "municipios", "naturezas", "paises", "qualificacoes"):
        manifest = store.manifest(lookup, "2026-10")
        assert manifest is not None and not manifest["partial"], lookup  # read whole: not partial
