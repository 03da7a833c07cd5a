"""Bad input on the query side: one line and an exit code, never an internal error, never a lost file."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from cnpj_duck.build import build
from cnpj_duck.cli import main
from cnpj_duck.config import load_config

LATE_ERROR = "SELECT CASE WHEN range = 25000 THEN error('late failure') END AS x FROM range(30000)"


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(args)
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json", "jsonl"])
def test_an_error_raised_while_rows_stream_is_one_line_with_exit_1(sample_build, capsys, fmt):
    _, data_dir, _ = sample_build
    code, _, err = _cli(["--data-dir", str(data_dir), "query", LATE_ERROR, "--format", fmt], capsys)
    assert code == 1
    assert err.strip() == "error: Invalid Input Error: late failure"


@pytest.mark.slow  # seconds
def test_a_failed_query_leaves_the_previous_output_file_alone(sample_build, capsys, tmp_path):
    _, data_dir, _ = sample_build
    for fmt, name in (("csv", "out.csv"), ("jsonl", "out.jsonl"), ("parquet", "out.parquet")):
        target = tmp_path / name
        target.write_text("the user's previous file\n")
        code, _, err = _cli(
            ["--data-dir", str(data_dir), "query", LATE_ERROR, "--format", fmt, "--output", str(target)], capsys
        )
        assert code == 1 and "late failure" in err, fmt
        assert target.read_text() == "the user's previous file\n", fmt
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [], fmt
    target = tmp_path / "new" / "folder" / "ok.csv"
    code, _, _ = _cli(
        ["--data-dir", str(data_dir), "query", "SELECT 42 AS answer", "--format", "csv", "--output", str(target)],
        capsys,
    )
    assert code == 0 and target.read_text().splitlines() == ['"answer"', "42"]


def test_parquet_output_renames_repeated_column_names(sample_build, capsys, tmp_path):
    _, data_dir, _ = sample_build
    target = tmp_path / "twice.parquet"
    code, _, err = _cli(
        [
            "--data-dir",
            str(data_dir),
            "query",
            "SELECT 1 AS a, 2 AS a, 'x' AS A",
            "--format",
            "parquet",
            "--output",
            str(target),
        ],
        capsys,
    )
    assert code == 0, err
    table = pq.read_table(target)
    assert table.column_names == ["a", "a_1", "A_2"] and table.to_pylist() == [{"a": 1, "a_1": 2, "A_2": "x"}]


@pytest.fixture(scope="module")
def damaged(sample_build, tmp_path_factory) -> Path:
    """The sample with a second release (a copy of the first) and one empresas part file cut short in 2026-10."""
    manifest, data_dir, _ = sample_build
    data = tmp_path_factory.mktemp("damaged") / "data"
    shutil.copytree(data_dir, data)
    config = load_config(None, overrides={"data_dir": str(data)}, env={})
    copy = data.parent / "2026-11"
    shutil.copytree(manifest.folder, copy)
    assert build(config, source=copy, release="2026-11").status == "succeeded"
    part = data / "parquet" / "empresas" / "release=2026-10" / "part-0.parquet"
    with part.open("r+b") as fh:
        fh.truncate(100)
    return data


@pytest.mark.slow  # its fixture copies and cuts a build, seconds
def test_lookup_on_a_damaged_part_file_names_it_and_says_how_to_rebuild(damaged, capsys):
    cnpj = duckdb.sql(
        f"SELECT cnpj FROM read_parquet('{damaged}/parquet/estabelecimentos/release=2026-10/*.parquet') "
        "ORDER BY cnpj LIMIT 1"
    ).fetchall()[0][0]
    code, _, err = _cli(["--data-dir", str(damaged), "lookup", cnpj, "--release", "2026-10"], capsys)
    assert code == 1
    (line,) = err.strip().splitlines()
    assert line.startswith("error: empresas of release 2026-10: ") and "part-0.parquet" in line
    assert line.endswith("`cnpj-duck build --release 2026-10 --force --tables empresas`")
    code, _, _ = _cli(["--data-dir", str(damaged), "lookup", cnpj, "--release", "2026-11"], capsys)
    assert code in (0, 1)  # the other release is whole: found, or a clean "not found"


@pytest.mark.slow  # its fixture copies and cuts a build, seconds
def test_diff_on_a_damaged_part_file_is_one_line_with_exit_1(damaged, capsys):
    code, _, err = _cli(
        ["--data-dir", str(damaged), "diff", "--from", "2026-10", "--to", "2026-11", "--table", "empresas"], capsys
    )
    assert code == 1
    (line,) = err.strip().splitlines()
    assert line.startswith("error: diff of empresas 2026-10 -> 2026-11: ") and "part-0.parquet" in line
    code, out, err = _cli(
        ["--data-dir", str(damaged), "diff", "--from", "2026-10", "--to", "2026-11", "--table", "motivos"], capsys
    )
    assert code == 0, err
    assert "motivos" in out


def test_a_month_built_in_part_warns_that_the_views_do_not_show_it(sample_build, tmp_path):
    manifest, data_dir, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    part = tmp_path / "2026-12"
    part.mkdir()
    shutil.copy2(manifest.folder / "Motivos.zip", part / "Motivos.zip")
    summary = build(load_config(None, overrides={"data_dir": str(data)}, env={}), source=part)
    assert summary.status == "succeeded"
    (warning,) = [w for w in summary.warnings if "built only in part" in w]
    assert "(2026-12: motivos); the views show 2026-10, the latest complete release" in warning
    assert "--release YYYY-MM" in warning


def test_lookup_json_writes_decimals_as_exact_numbers_like_query(sample_build, capsys):
    import json
    from decimal import Decimal

    _, data_dir, _ = sample_build
    cnpj, capital = duckdb.sql(
        f"SELECT e.cnpj, m.capital_social FROM read_parquet('{data_dir}/parquet/estabelecimentos/*/*.parquet') e "
        f"JOIN read_parquet('{data_dir}/parquet/empresas/*/*.parquet') m USING (cnpj_basico) "
        "WHERE m.capital_social > 1000 ORDER BY e.cnpj LIMIT 1"
    ).fetchall()[0]
    code, out, err = _cli(["--data-dir", str(data_dir), "lookup", cnpj, "--format", "json"], capsys)
    assert code == 0, err
    (found,) = json.loads(out, parse_float=Decimal)
    assert found["empresa"]["capital_social"] == capital and isinstance(found["empresa"]["capital_social"], Decimal)
    assert f'"capital_social": {capital}' in out  # a bare number with its two decimals, not a string
