"""diff: two releases built side by side, the second made from the first with known differences."""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile
from pathlib import Path

import duckdb
import pytest

from cnpj_duck.build import BuildSummary, build
from cnpj_duck.catalog import refresh_catalog
from cnpj_duck.cnpj import check_digits
from cnpj_duck.config import load_config
from cnpj_duck.diff import diff
from cnpj_duck.errors import CnpjDuckError, SqlError, UsageError
from cnpj_duck.layout import FAMILIES
from cnpj_duck.query import connect
from cnpj_duck.sample import SampleManifest
from cnpj_duck.sqlfiles import SqlDir

from .conftest import catalog, cli_run

run = cli_run

E = {name: n for n, name in enumerate(FAMILIES["estabelecimentos"].columns)}  # a raw row's fields


def read_member(path: Path) -> tuple[str, list[list[str]]]:
    with zipfile.ZipFile(path) as zf:
        info = zf.infolist()[0]
        text = zf.read(info).decode("latin-1")
    return info.filename, list(csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"'))


def write_member(path: Path, member: str, records: list[list[str]]) -> None:
    text = "".join('"' + '";"'.join(r) + '"\n' for r in records)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, text.encode("latin-1"))


def cnpj_of(record: list[str]) -> str:
    return record[0] + record[1] + record[2]


class Edits:
    """What the 2026-11 release changes, as the test expects diff to find it."""

    def __init__(self) -> None:
        self.new: set[str] = set()
        self.removed: set[str] = set()
        self.changed: dict[str, set[str]] = {}
        self.duplicated: str = ""
        self.bad_check_digits: str = ""


def make_next_release(source: Path, target: Path) -> dict[str, Edits]:
    """Copy release 2026-10's zips to 2026-11 and edit a few records of some tables."""
    target.mkdir(parents=True)
    for path in source.glob("*.zip"):
        shutil.copy2(path, target / path.name)
    edits = {t: Edits() for t in ("estabelecimentos", "empresas", "socios", "motivos")}

    member, recs = read_member(source / "Estabelecimentos1.zip")
    e = edits["estabelecimentos"]
    e.removed = {cnpj_of(r) for r in recs[0:3]}
    for r in recs[3:8]:  # status only
        r[E["situacao_cadastral"]] = "02" if r[E["situacao_cadastral"]] == "08" else "08"
        e.changed[cnpj_of(r)] = {"situacao_cadastral"}
    for r in recs[8:10]:  # two columns
        r[E["logradouro"]], r[E["cep"]] = "RUA NOVA DO TESTE", "01001000"
        e.changed[cnpj_of(r)] = {"logradouro", "cep"}
    r = recs[10]  # spaces only: the typed value is the same, so the record is unchanged
    r[E["nome_fantasia"]] = f"  {r[E['nome_fantasia']]} "
    r = recs[11]
    assert r[E["data_inicio_atividade"]] != "20200101"
    r[E["data_inicio_atividade"]] = "20200101"
    e.changed[cnpj_of(r)] = {"data_inicio_atividade"}
    r = recs[12]
    assert r[E["cnae_fiscal_secundaria"]] != "6201501"
    r[E["cnae_fiscal_secundaria"]] = "6201501"
    e.changed[cnpj_of(r)] = {"cnae_fiscal_secundaria"}
    added = []
    for i, r in enumerate(recs[20:24]):  # new establishments with alphanumeric CNPJs
        g = list(r)
        g[0], g[1] = f"ZZ{i:06d}", "0001"
        g[2] = check_digits(g[0] + g[1])
        added.append(g)
        e.new.add(cnpj_of(g))
    r = recs[13]  # wrong check digits: a new key (and the old one removed), counted by qualidade
    e.removed.add(cnpj_of(r))
    r[E["cnpj_dv"]] = f"{(int(r[E['cnpj_dv']]) + 1) % 100:02d}"
    e.new.add(cnpj_of(r))
    e.bad_check_digits = cnpj_of(r)
    twin = list(recs[30])  # a key that the new release repeats
    twin[E["situacao_cadastral"]] = "04"
    e.duplicated = cnpj_of(twin)
    write_member(target / "Estabelecimentos1.zip", member, recs[3:] + added + [twin])

    member, recs = read_member(source / "Empresas1.zip")
    recs[0][4] = "123,45"
    recs[1][1], recs[1][5] = "NOME NOVO DO TESTE LTDA", "03" if recs[1][5] != "03" else "01"
    edits["empresas"].changed = {recs[0][0]: {"capital_social"}, recs[1][0]: {"razao_social", "porte_empresa"}}
    write_member(target / "Empresas1.zip", member, recs)

    member, recs = read_member(source / "Socios1.zip")
    s = edits["socios"]
    s.removed = {f"{recs[0][0]} | {recs[0][3]} | {recs[0][2]}"}
    partner = list(recs[1])
    partner[2] = "FULANO NOVO DA SILVA"
    s.new = {f"{partner[0]} | {partner[3]} | {partner[2]}"}
    recs[2][4] = "05" if recs[2][4] != "05" else "49"
    s.changed = {f"{recs[2][0]} | {recs[2][3]} | {recs[2][2]}": {"qualificacao_socio"}}
    pj = next(r for r in recs[3:] if r[1] == "1")  # a legal-entity partner's CNPJ with a wrong check digit
    s.removed.add(f"{pj[0]} | {pj[3]} | {pj[2]}")
    pj[3] = pj[3][:13] + str((int(pj[3][13]) + 1) % 10)
    s.new.add(f"{pj[0]} | {pj[3]} | {pj[2]}")
    s.bad_check_digits = pj[3]
    write_member(target / "Socios1.zip", member, recs[1:] + [partner])

    member, recs = read_member(source / "Motivos.zip")
    recs[1][1] = "DESCRICAO NOVA"
    edits["motivos"].changed = {recs[1][0]: {"descricao"}}
    edits["motivos"].new = {"99"}
    write_member(target / "Motivos.zip", member, recs + [["99", "MOTIVO NOVO"]])
    return edits


@pytest.fixture(scope="module")
def two_releases(
    sample_build: tuple[SampleManifest, Path, BuildSummary], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Edits], BuildSummary]:
    manifest, data_dir, _ = sample_build
    root = tmp_path_factory.mktemp("diff")
    shutil.copytree(data_dir, root / "data")
    edits = make_next_release(manifest.folder, root / "raw" / "2026-11")
    config = load_config(None, overrides={"data_dir": str(root / "data")}, env={})
    summary = build(config, source=root / "raw" / "2026-11")
    assert summary.status == "succeeded", summary.errors
    return root / "data", edits, summary


def duplicate_keys(data_dir: Path, table: str, key: str, release: str) -> set[str]:
    con = duckdb.connect()
    return {
        r[0]
        for r in con.execute(
            f"SELECT {key} FROM read_parquet('{data_dir}/parquet/{table}/release={release}/*.parquet') "
            "GROUP BY ALL HAVING count(*) > 1"
        ).fetchall()
    }


@pytest.mark.slow
def test_diff_finds_exactly_the_known_differences(two_releases: tuple[Path, dict[str, Edits], BuildSummary]) -> None:
    data_dir, edits, _ = two_releases
    config = load_config(None, overrides={"data_dir": str(data_dir)}, env={})
    with diff(config, "2026-10", "2026-11") as result:
        summary = {t.table: t for t in result.summary()}
        records = list(result.iter_records())
    assert set(summary) == {
        "estabelecimentos",
        "empresas",
        "simples",
        "socios",
        "cnaes",
        "motivos",
        "municipios",
        "naturezas",
        "paises",
        "qualificacoes",
    }

    e, est = edits["estabelecimentos"], summary["estabelecimentos"]
    dups = duplicate_keys(data_dir, "estabelecimentos", "cnpj", "2026-10")
    assert dups, "the sample repeats some keys (duplicate_key, duplicate_row quirks)"
    assert (est.new, est.removed, est.changed) == (5, 4, 9)
    assert est.duplicate_keys == len(dups) + 1
    assert est.rows_to == est.rows_from - 3 + 4 + 1
    assert est.unchanged == est.rows_from - 4 - 9 - 2 * len(dups) - 1
    assert est.changed_columns == {
        "situacao_cadastral": 5,
        "logradouro": 2,
        "cep": 2,
        "data_inicio_atividade": 1,
        "cnae_fiscal_secundaria": 1,
    }
    mine = [r for r in records if r["table_name"] == "estabelecimentos"]
    assert {r["key"] for r in mine if r["status"] == "new"} == e.new
    assert {r["key"] for r in mine if r["status"] == "removed"} == e.removed
    assert {r["key"]: set(r["changed_columns"]) for r in mine if r["status"] == "changed"} == e.changed
    duplicated = {r["key"]: (r["rows_from"], r["rows_to"]) for r in mine if r["status"] == "duplicate"}
    assert duplicated == {**{k: (2, 2) for k in dups}, e.duplicated: (1, 2)}

    emp = summary["empresas"]
    assert (emp.new, emp.removed, emp.changed) == (0, 0, 2)
    assert emp.changed_columns == {"capital_social": 1, "razao_social": 1, "porte_empresa": 1}
    assert {
        r["key"]: set(r["changed_columns"])
        for r in records
        if r["table_name"] == "empresas" and r["status"] == "changed"
    } == edits["empresas"].changed

    soc = summary["socios"]
    assert (soc.new, soc.removed, soc.changed) == (2, 2, 1)
    assert soc.key == ("cnpj_basico", "cnpj_cpf_socio", "nome_socio_razao_social")
    got = [r for r in records if r["table_name"] == "socios"]
    assert {r["key"] for r in got if r["status"] == "new"} == edits["socios"].new
    assert {r["key"] for r in got if r["status"] == "removed"} == edits["socios"].removed
    assert {r["key"]: set(r["changed_columns"]) for r in got if r["status"] == "changed"} == edits["socios"].changed

    mot = summary["motivos"]
    assert (mot.new, mot.removed, mot.changed, mot.duplicate_keys) == (1, 0, 1, 0)
    assert mot.unchanged == mot.rows_from - 1 and mot.changed_columns == {"descricao": 1}

    for name in ("simples", "cnaes", "municipios", "naturezas", "paises", "qualificacoes"):
        t = summary[name]
        assert (t.new, t.removed, t.changed) == (0, 0, 0), name
        assert (
            t.rows_from == t.rows_to
            and t.unchanged + sum(r["rows_from"] for r in records if r["table_name"] == name) == t.rows_from
        )


@pytest.mark.slow
def test_diff_of_one_table_and_its_errors(two_releases: tuple[Path, dict[str, Edits], BuildSummary]) -> None:
    data_dir, _, _ = two_releases
    config = load_config(None, overrides={"data_dir": str(data_dir)}, env={})
    with diff(config, "2026-11", "2026-10", ["motivos"]) as result:  # backwards: new and removed swap
        (mot,) = result.summary()
        assert (mot.table, mot.new, mot.removed, mot.changed) == ("motivos", 0, 1, 1)
        assert [r["key"] for r in result.iter_records(["removed"])] == ["99"]
    with pytest.raises(UsageError, match="both 2026-10"):
        diff(config, "2026-10", "2026-10")
    with pytest.raises(UsageError, match="not built for 2026-12"):
        diff(config, "2026-10", "2026-12", ["empresas"])
    with pytest.raises(UsageError, match="no diff key known"):
        diff(config, "2026-10", "2026-11", ["nada"])
    with pytest.raises(UsageError, match="YYYY-MM"):
        diff(config, "2026-1", "2026-11")


@pytest.mark.slow
def test_diff_cli_formats(
    two_releases: tuple[Path, dict[str, Edits], BuildSummary], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, edits, _ = two_releases
    base = ["--data-dir", str(data_dir), "diff", "--from", "2026-10", "--to", "2026-11"]

    code, out, err = run(capsys, *base, "--format", "json")
    assert code == 0, err
    tables = {t["table_name"]: t for t in json.loads(out)}
    assert {(t["from_release"], t["to_release"]) for t in tables.values()} == {("2026-10", "2026-11")}
    assert tables["empresas"]["changed_columns"] == {"capital_social": 1, "razao_social": 1, "porte_empresa": 1}
    assert tables["estabelecimentos"]["new"] == 5
    assert tables["socios"]["key"] == "cnpj_basico, cnpj_cpf_socio, nome_socio_razao_social"

    code, out, err = run(
        capsys, *base, "--table", "estabelecimentos", "--records", "--status", "new,removed", "--format", "csv"
    )
    assert code == 0, err
    got = list(csv.DictReader(io.StringIO(out)))
    e = edits["estabelecimentos"]
    assert {(r["status"], r["key"]) for r in got} == {("new", k) for k in e.new} | {("removed", k) for k in e.removed}
    assert got[0].keys() == {"table_name", "status", "key", "changed_columns", "rows_from", "rows_to"}
    assert err.startswith("estabelecimentos: 5 new, 4 removed, 9 changed, ")

    code, out, err = run(capsys, *base, "--table", "empresas", "--records", "--status", "changed", "--format", "jsonl")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert {r["key"]: set(r["changed_columns"]) for r in lines} == edits["empresas"].changed

    target = tmp_path / "diff.parquet"
    code, out, err = run(capsys, *base, "--records", "--format", "parquet", "--output", str(target))
    assert code == 0 and f"rows to {target}" in err
    with duckdb.connect() as con:
        counts = dict(
            con.execute(
                "SELECT status, count(*) FROM read_parquet(?) WHERE table_name = 'estabelecimentos' GROUP BY status",
                [str(target)],
            ).fetchall()
        )
        assert (counts["new"], counts["removed"], counts["changed"]) == (5, 4, 9)

    code, out, err = run(capsys, *base)  # the summary, for people
    assert code == 0, err
    assert out.startswith("diff 2026-10 -> 2026-11\n")
    line = next(x for x in out.splitlines() if x.lstrip().startswith("empresas"))
    assert "capital_social: 1" in line and "razao_social: 1" in line

    code, out, err = run(capsys, *base, "--format", "markdown", "--table", "motivos")
    assert code == 0 and "| motivos | codigo |" in out and "descricao: 1" in out

    code, out, err = run(capsys, *base, "--records", "--table", "motivos", "--max-rows", "1")
    assert code == 0 and "(2 rows, 1 shown;" in out  # 99 new and one description changed

    for args, says in (
        ([], "both 2026-10"),
        (["--status", "gone", "--records"], "gone: not one of"),
        (["--status", "new"], "add --records"),
        (["--format", "parquet", "--records"], "--output"),
        (["--table", "nada"], "no diff key known"),
    ):
        code, out, err = run(capsys, *(base if args else [*base[:-1], "2026-10"]), *args)
        assert code == 2 and says in err and out == "", (args, err)


@pytest.mark.slow
def test_qualidade_view_in_the_catalog(two_releases: tuple[Path, dict[str, Edits], BuildSummary]) -> None:
    """The catalog's qualidade view checks the latest release (2026-11 here); query --release the other one."""
    data_dir, edits, summary = two_releases
    refresh_catalog(data_dir, SqlDir())
    with catalog(data_dir) as con:
        rel = con.sql("SELECT * FROM qualidade")
        got = {(r[1], r[2], r[3]): dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()}
    assert {g["release"] for g in got.values()} == {"2026-11"}

    def check(table: str, column: str, name: str) -> tuple[int, int, int, list | None]:
        g = got[(table, column, name)]
        return g["rows_checked"], g["problems"], g["distinct_values"], g["examples"]

    parquet = f"{data_dir}/parquet/{{}}/release=2026-11/*.parquet"
    with duckdb.connect() as con:

        def one(sql: str) -> int:
            return con.execute(
                sql.replace("{e}", parquet.format("estabelecimentos"))
                .replace("{m}", parquet.format("motivos"))
                .replace("{s}", parquet.format("socios"))
                .replace("{q}", parquet.format("qualificacoes"))
            ).fetchall()[0][0]

        rows_e = one("SELECT count(*) FROM '{e}'")
        orphan_motivo = one(
            "SELECT count(*) FROM '{e}' WHERE motivo_situacao_cadastral NOT IN (SELECT codigo FROM '{m}')"
        )
        orphan_qual = one("SELECT count(*) FROM '{s}' WHERE qualificacao_socio NOT IN (SELECT codigo FROM '{q}')")
        pj = one("SELECT count(*) FROM '{s}' WHERE identificador_socio = '1'")
    dups = duplicate_keys(data_dir, "estabelecimentos", "cnpj", "2026-11")
    bad = edits["estabelecimentos"].bad_check_digits

    assert check("estabelecimentos", "cnpj", "invalid_check_digits") == (rows_e, 1, 1, [bad])
    assert check("socios", "cnpj_cpf_socio", "invalid_check_digits") == (pj, 1, 1, [edits["socios"].bad_check_digits])
    assert orphan_motivo >= 1 and check("estabelecimentos", "motivo_situacao_cadastral", "orphan_code") == (
        rows_e,
        orphan_motivo,
        1,
        ["32"],
    )
    assert check("socios", "qualificacao_socio", "orphan_code")[1] == orphan_qual >= 1
    assert check("estabelecimentos", "cnpj", "duplicate_key") == (rows_e, 2 * len(dups), len(dups), sorted(dups))
    assert edits["estabelecimentos"].duplicated in dups
    assert check("motivos", "codigo", "duplicate_key")[1:] == (0, 0, None)
    # Values nulled by casts: the 2026-11 build's own counts, not added to 2026-10's.
    tables = {t.name: t for t in summary.tables}
    nulled = {(k[0], k[1]): g["problems"] for k, g in got.items() if k[2] == "nulled_by_cast"}
    expected = {
        (t, c): n
        for t in ("estabelecimentos", "empresas", "simples", "socios")
        for c, n in tables[t].values_nulled.items()
    }
    assert expected and all(nulled[k] == n for k, n in expected.items())
    assert all(n == 0 for k, n in nulled.items() if k not in expected)
    assert ("estabelecimentos", "data_inicio_atividade") in nulled and ("empresas", "capital_social") in nulled

    # query --release 2026-10: the views of that release, and the checks with them.
    con = connect(data_dir, SqlDir(), release="2026-10")
    try:
        old = {(r[1], r[2], r[3]): r for r in con.execute("SELECT * FROM qualidade").fetchall()}
    finally:
        con.close()
    assert {r[0] for r in old.values()} == {"2026-10"}
    assert old[("estabelecimentos", "cnpj", "invalid_check_digits")][5] == 0
    assert old[("socios", "cnpj_cpf_socio", "invalid_check_digits")][5] == 0


# --- errors: damaged part files, errors while records stream ------------------------------------------------


@pytest.fixture
def damaged_copy(two_releases: tuple[Path, dict[str, Edits], BuildSummary], tmp_path: Path) -> Path:
    data_dir, _, _ = two_releases
    for folder in ("parquet", "manifests"):  # the outputs: partitions and what they were built from
        shutil.copytree(data_dir / folder, tmp_path / "data" / folder)
    return tmp_path / "data"


@pytest.mark.slow
def test_diff_names_the_table_and_release_of_a_damaged_part_file(
    damaged_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    part = damaged_copy / "parquet" / "motivos" / "release=2026-10" / "part-0.parquet"
    with part.open("r+b") as fh:
        fh.truncate(100)  # `truncate -s 100`: no Parquet footer left
    config = load_config(None, overrides={"data_dir": str(damaged_copy)}, env={})
    with pytest.raises(CnpjDuckError) as e:
        diff(config, "2026-10", "2026-11", ["motivos"])
    message = str(e.value)
    assert message.startswith("diff of motivos 2026-10 -> 2026-11: ") and str(part) in message
    assert message.endswith(
        "release 2026-10 of motivos has a damaged file: rebuild it with `cnpj-duck build "
        "--release 2026-10 --force --tables motivos`"
    )
    code, out, err = run(capsys, "--data-dir", str(damaged_copy), "diff", "--from", "2026-10", "--to", "2026-11")
    assert (code, out, err) == (1, "", f"error: {message}\n")  # every table: the damaged one stops it, on one line
    code, out, err = run(
        capsys, "--data-dir", str(damaged_copy), "diff", "--from", "2026-10", "--to", "2026-11", "--table", "paises"
    )
    assert code == 0, err


@pytest.mark.slow
def test_diff_of_a_part_file_damaged_inside_is_one_line_naming_both_releases(damaged_copy: Path) -> None:
    part = damaged_copy / "parquet" / "motivos" / "release=2026-11" / "part-0.parquet"
    data = bytearray(part.read_bytes())
    data[4:-200] = b"\xab" * (len(data) - 204)  # the footer stays: the pages do not decode
    part.write_bytes(bytes(data))
    config = load_config(None, overrides={"data_dir": str(damaged_copy)}, env={})
    with pytest.raises(CnpjDuckError) as e:
        diff(config, "2026-10", "2026-11", ["motivos"])
    message = str(e.value)
    assert message.startswith("diff of motivos 2026-10 -> 2026-11: ") and "\n" not in message
    assert "--release 2026-10 --force --tables motivos" in message and "2026-11" in message.split(": ", 1)[1]


@pytest.mark.slow
def test_an_error_while_diff_records_stream_is_a_sql_error(
    two_releases: tuple[Path, dict[str, Edits], BuildSummary],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cnpj_duck.diff import DiffResult

    data_dir, _, _ = two_releases
    late = "SELECT CASE WHEN range = 25000 THEN error('late') END AS table_name FROM range(30000)"
    monkeypatch.setattr(DiffResult, "records", lambda self, statuses=None: self.con.sql(late))
    config = load_config(None, overrides={"data_dir": str(data_dir)}, env={})
    with diff(config, "2026-10", "2026-11", ["motivos"]) as result:
        with pytest.raises(SqlError, match=r"^Invalid Input Error: late$"):
            list(result.iter_records())
    for fmt in ("csv", "jsonl", "table"):
        code, _, err = run(
            capsys,
            "--data-dir",
            str(data_dir),
            "diff",
            "--from",
            "2026-10",
            "--to",
            "2026-11",
            "--table",
            "motivos",
            "--records",
            "--format",
            fmt,
        )
        assert (code, err) == (1, "error: Invalid Input Error: late\n"), fmt


@pytest.mark.slow
def test_diff_reversed_releases_warns(
    two_releases: tuple[Path, dict[str, Edits], BuildSummary], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, _, _ = two_releases
    base = ["--data-dir", str(data_dir), "diff", "--format", "json"]
    code, _, err = run(capsys, *base, "--from", "2026-11", "--to", "2026-10")
    assert code == 0, err
    assert err.splitlines()[0] == (
        "warning: --from 2026-11 is newer than --to 2026-10: new and removed are read "
        "backwards; swap them to compare forwards"
    )
    code, _, err = run(capsys, *base, "--from", "2026-10", "--to", "latest")
    assert code == 0 and "warning" not in err, err
