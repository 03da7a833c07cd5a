"""Bad input: malformed records, corrupt zips, layout drift, odd folders. Clear messages, nothing lost."""

from __future__ import annotations

import shutil
import zipfile

import pytest
from click.testing import CliRunner

from cnpj_duck.build import build
from cnpj_duck.cli import cli, main
from cnpj_duck.errors import UsageError

from .conftest import REAL_SAMPLES, catalog, rows, write_zip

MEMBER = "K3241.K03200Y0.D61011.EMPRECSV"


def empresa(basico: str, name: str = "ACME LTDA", capital: str = "1000,00") -> bytes:
    return f'"{basico}";"{name}";"2062";"49";"{capital}";"01";""\n'.encode("latin-1")


QUIRKY = b"".join(
    [
        empresa("00000001"),  # line 1
        b'"00000002";"TWO\nLINES LTDA";"2062";"49";"0,00";"01";""\n',  # lines 2-3: LF inside a quoted value
        b'"00000003";"EXTRA";"2062";"49";"0,00";"01";"";"surplus"\n',  # line 4: one field too many
        b'"00000004";"OPEN QUOTE";"2062";"49";"0,00";"01";"\n',  # line 5: last quote never closed
        empresa("00000005"),  # line 6: valid, swallowed by line 5's quote
        b'"00000006";"C1 \x8f BYTE\x00 NUL";"2062";"49";"-12,50";"01";""\n',  # line 7
        b'"00000007";"BAD DATE";"2062";"49";"12,5x";"01";""\n',  # line 8: capital that does not cast
        b"\n",  # blank last line
    ]
)


@pytest.mark.slow  # builds, seconds
def test_malformed_records_are_rejected_with_their_lines_and_the_rest_is_kept(config, tmp_path):
    folder = tmp_path / "2026-10"
    write_zip(folder, "Empresas0.zip", MEMBER, QUIRKY)
    summary = build(config, source=folder)
    assert summary.status == "succeeded"
    (emp,) = [t for t in summary.tables if t.name == "empresas"]
    assert (emp.rows_read, emp.rows_written, emp.rows_rejected) == (7, 5, 2)
    assert emp.values_nulled == {"capital_social": 1}
    out = {r["cnpj_basico"]: r for r in rows(config.data_dir, "empresas")}
    assert sorted(out) == ["00000001", "00000002", "00000005", "00000006", "00000007"]
    assert out["00000002"]["razao_social"] == "TWO\nLINES LTDA"
    assert out["00000006"]["razao_social"] == "C1 \x8f BYTE NUL"  # 0x8F kept, NUL removed
    assert str(out["00000006"]["capital_social"]) == "-12.50"
    assert out["00000007"]["capital_social"] is None
    con = catalog(config.data_dir)
    rejects = con.execute(
        "SELECT line, reason, raw, zip_name, member_name, table_name, release FROM rejects ORDER BY line"
    ).fetchall()
    assert [r[0] for r in rejects] == [4, 5]
    assert rejects[0][1].startswith("field_count: 8 fields, expected 7")
    assert rejects[0][2] == '"00000003";"EXTRA";"2062";"49";"0,00";"01";"";"surplus"'
    assert rejects[1][1].startswith("unterminated_quote")
    assert rejects[1][2] == '"00000004";"OPEN QUOTE";"2062";"49";"0,00";"01";"'
    assert rejects[0][3:] == ("Empresas0.zip", MEMBER, "empresas", "2026-10")
    (nulled,) = con.execute("SELECT values_nulled FROM audit_files WHERE zip_name = 'Empresas0.zip'").fetchone()
    assert nulled == '{"capital_social": 1}'


@pytest.mark.slow  # builds across many batches, seconds
def test_lines_stay_right_across_batches(config, tmp_path):
    # Many small batches: the line numbers of rejects must not drift at batch boundaries.
    body = b"".join(
        empresa(f"{i:08d}", name="X" * 200) if i % 1000 else b'"%08d";"SHORT"\n' % i for i in range(1, 20001)
    )
    folder = tmp_path / "2026-10"
    write_zip(folder, "Empresas0.zip", MEMBER, body)
    config = type(config)(**{**config.__dict__, "batch_mb": 1})
    summary = build(config, source=folder)
    (emp,) = [t for t in summary.tables if t.name == "empresas"]
    assert (emp.rows_read, emp.rows_rejected) == (20000, 20)
    lines = [r[0] for r in catalog(config.data_dir).execute("SELECT line FROM rejects ORDER BY line").fetchall()]
    assert lines == list(range(1000, 20001, 1000))
    batches = (
        catalog(config.data_dir)
        .execute("SELECT count(*), sum(rows_read), min(first_line), max(last_line) FROM audit_batches")
        .fetchone()
    )
    assert batches[0] > 2 and batches[1:] == (20000, 1, 20000)


def test_layout_drift_fails_the_file_with_the_expected_layout(config, tmp_path):
    folder = tmp_path / "2026-10"
    shutil.copy(REAL_SAMPLES / "naming-2022" / "Cnaes.zip", folder.mkdir() or folder / "Cnaes.zip")
    write_zip(folder, "Empresas0.zip", MEMBER, b'"1";"A";"B"\n"2";"C";"D"\n')
    summary = build(config, source=folder)
    assert summary.status == "failed"
    (emp,) = [t for t in summary.tables if t.name == "empresas"]
    assert emp.status == "failed"
    assert "Empresas0.zip" in emp.error and "have 3 fields" in emp.error
    assert "cnpj_basico;razao_social;natureza_juridica" in emp.error
    # the other table still built
    assert [t.status for t in summary.tables if t.name == "cnaes"] == ["succeeded"]
    assert len(rows(config.data_dir, "cnaes")) == 6
    assert not (config.data_dir / "parquet" / "empresas").exists()


@pytest.mark.slow  # a build of every table, seconds
def test_corrupt_zip_fails_that_file_and_the_others_build(config, tmp_path):
    folder = tmp_path / "2026-10"
    shutil.copytree(REAL_SAMPLES / "naming-2022", folder)
    good = (folder / "Socios0.zip").read_bytes()
    (folder / "Socios0.zip").write_bytes(good[: len(good) // 2])  # a truncated download
    (folder / "Empresas1.zip").write_bytes(b"this is not a zip")
    summary = build(config, source=folder)
    assert summary.status == "failed"
    status = {t.name: t.status for t in summary.tables}
    assert status["socios"] == "failed" and status["empresas"] == "failed"
    assert status["estabelecimentos"] == "succeeded" and status["cnaes"] == "succeeded"
    errors = dict(
        catalog(config.data_dir).execute("SELECT zip_name, error FROM audit_files WHERE status = 'failed'").fetchall()
    )
    assert "Socios0.zip" in errors["Socios0.zip"] and "download it again" in errors["Socios0.zip"]
    assert "Empresas1.zip: not a readable zip" in errors["Empresas1.zip"]
    assert len(rows(config.data_dir, "estabelecimentos")) == 1


def test_corrupt_bytes_inside_member_are_caught_by_crc(config, tmp_path):
    folder = tmp_path / "2026-10"
    data = b"".join(empresa(f"{i:08d}") for i in range(5000))
    path = write_zip(folder, "Empresas0.zip", MEMBER, data, method=zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # flip one bit in the middle of the stored data
    path.write_bytes(bytes(raw))
    summary = build(config, source=folder)
    (emp,) = [t for t in summary.tables if t.name == "empresas"]
    assert emp.status == "failed" and "Bad CRC-32" in emp.error and "download it again" in emp.error
    assert catalog(config.data_dir).execute(
        "SELECT count(*) FROM audit_batches WHERE status = 'succeeded' AND rows_written > 0"
    ).fetchone() == (0,)


def test_junk_members_stored_members_and_odd_files(config, tmp_path):
    folder = tmp_path / "2026-10"
    folder.mkdir()
    with zipfile.ZipFile(folder / "Empresas0.zip", "w") as zf:
        zf.writestr("__MACOSX/._" + MEMBER, b"\x00\x05\x16\x07junk")
        zf.writestr(MEMBER, empresa("00000001"), compress_type=zipfile.ZIP_STORED)
    write_zip(folder, "holiday-photos.zip", "IMG_0001.JPG", b"\xff\xd8\xff")
    (folder / "notes.txt").write_text("hello")
    with zipfile.ZipFile(folder / "Cnaes.zip", "w") as zf:
        zf.writestr("__MACOSX/", b"")
    summary = build(config, source=folder)
    assert [r["cnpj_basico"] for r in rows(config.data_dir, "empresas")] == ["00000001"]
    assert any("notes.txt: unexpected file" in w for w in summary.warnings)
    assert any("holiday-photos.zip: no CNPJ release member" in w and "IMG_0001.JPG" in w for w in summary.warnings)
    (cnaes,) = [t for t in summary.tables if t.name == "cnaes"]
    assert cnaes.status == "failed" and "no data member" in cnaes.error
    assert summary.status == "failed"


def test_duplicate_files_of_one_family_fail_loudly(config, tmp_path):
    folder = tmp_path / "2026-10"
    write_zip(folder, "Empresas0.zip", MEMBER, empresa("00000001"))
    write_zip(folder, "K3241.K03200Y0.D61011.EMPRECSV.zip", MEMBER, empresa("00000001"))
    summary = build(config, source=folder)
    (emp,) = [t for t in summary.tables if t.name == "empresas"]
    assert emp.status == "failed" and "keep one of them" in emp.error


def test_reject_threshold_fails_the_file(config, tmp_path):
    folder = tmp_path / "2026-10"
    body = b"".join(empresa(f"{i:08d}") if i % 3 else b'"%08d";"SHORT"\n' % i for i in range(1, 101))
    write_zip(folder, "Empresas0.zip", MEMBER, body)
    config = type(config)(**{**config.__dict__, "max_rejects_per_file": 10})
    summary = build(config, source=folder)
    (emp,) = [t for t in summary.tables if t.name == "empresas"]
    assert emp.status == "failed" and "more than max_rejects_per_file = 10" in emp.error
    assert catalog(config.data_dir).execute("SELECT count(*) FROM rejects").fetchone() == (33,)


def test_empty_folder_and_missing_release_are_usage_errors(config, tmp_path):
    empty = tmp_path / "2026-10"
    empty.mkdir()
    with pytest.raises(UsageError, match=f"{empty}: no release file here"):
        build(config, source=empty)
    write_zip(empty, "Socios0.zip", "K3241.K03200Y0.D61011.SOCIOCSV", b"")
    with pytest.raises(UsageError, match=f"{empty}: no file of empresas, simples here"):
        build(config, source=empty, tables=["empresas", "simples"])
    with pytest.raises(UsageError, match="no release folder with zips"):
        build(config)
    with pytest.raises(UsageError, match="cannot tell the release month"):
        build(config, source=REAL_SAMPLES / "naming-2022")


def test_cli_reports_bad_input_in_one_line_with_exit_codes(tmp_path, capsys):
    folder = tmp_path / "2026-10"
    write_zip(folder, "Empresas0.zip", MEMBER, b'"1";"A";"B"\n')
    data = str(tmp_path / "data")
    with pytest.raises(SystemExit) as e:
        main(["--data-dir", data, "build", "--source", str(folder), "--no-progress"])
    assert e.value.code == 1
    err = capsys.readouterr().err
    *before, last = err.strip().splitlines()
    assert any(line.startswith("error: Empresas0.zip: ") for line in before) and "Traceback" not in err
    assert last == (
        "error: build of 2026-10 failed: 1 table (empresas); the errors are above, and "
        "`cnpj-duck status --run 1` has the details"
    )
    with pytest.raises(SystemExit) as e:
        main(["--data-dir", data, "build", "--source", str(tmp_path / "nope")])
    assert e.value.code == 2
    assert "no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["--data-dir", data, "build", "--tables", "empresas,bogus", "--source", str(folder)])
    assert e.value.code == 2 and "bogus" in capsys.readouterr().err


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    for name, command in cli.commands.items():
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert command.help and "Example" in command.help, name


def _build_one(config, tmp_path, member_bytes, zip_name="Cnaes.zip", member="F.K03200$Z.D61011.CNAECSV", batch_mb=1):
    folder = tmp_path / "2026-10"
    write_zip(folder, zip_name, member, member_bytes)
    config = type(config)(**{**config.__dict__, "batch_mb": batch_mb})
    summary = build(config, source=folder)
    (table,) = [t for t in summary.tables if t.status != "skipped"]
    return table, config


def test_a_value_that_is_only_a_line_break_never_becomes_a_batch_boundary(config, tmp_path):
    # `;"\n";` looks like the end of a record; cutting there would split it (found in review).
    body = b"".join(b'"%07d";"%s"\n' % (i, b"\n" if i % 7 == 0 else b"X" * 60) for i in range(40_000))
    table, config = _build_one(config, tmp_path, body)
    assert (table.rows_read, table.rows_written, table.rows_rejected) == (40_000, 40_000, 0)
    out = rows(config.data_dir, "cnaes", "descricao IS NULL OR descricao = chr(10)")
    assert len(out) == 40_000 // 7 + 1  # every "\n" value kept (as a line break, which rfb_text keeps)


def test_crlf_files_are_cut_at_records_too(config, tmp_path):
    body = b"".join(b'"%07d";"LINHA1\nLINHA2 %d"\r\n' % (i, i) for i in range(60_000))
    table, config = _build_one(config, tmp_path, body)
    assert (table.rows_read, table.rows_written, table.rows_rejected) == (60_000, 60_000, 0)
    assert rows(config.data_dir, "cnaes", "codigo = '0000007'")[0]["descricao"] == "LINHA1\nLINHA2 7"


def test_an_unterminated_quote_at_the_end_of_the_member_is_rejected(config, tmp_path):
    table, config = _build_one(config, tmp_path, b'"1";"a"\n"2";"b"\n"3";"c\n')
    assert (table.rows_read, table.rows_written, table.rows_rejected) == (3, 2, 1)
    ((line, reason, raw),) = catalog(config.data_dir).execute("SELECT line, reason, raw FROM rejects").fetchall()
    assert (line, raw) == (3, '"3";"c') and reason.startswith("unterminated_quote")


def test_a_reject_gets_its_own_line_not_an_earlier_match(config, tmp_path):
    body = b'"10";"1";"x"\n"2";"b"\n"3";"c"\n"4";"d"\n"1"\n'  # `"1"` also appears inside line 1
    table, config = _build_one(config, tmp_path, body)
    assert table.rows_rejected == 2
    lines = [r[0] for r in catalog(config.data_dir).execute("SELECT line FROM rejects ORDER BY line").fetchall()]
    assert lines == [1, 5]
