"""Issue 12's faults on the README's paths: values rendered by type, one error style, env warnings, the Ctrl-C hint."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from cnpj_duck.build import BuildSummary
from cnpj_duck.config import load_config, unknown_env_warnings
from cnpj_duck.sample import SampleManifest

from .conftest import cli_run

run = cli_run


def test_lookup_shows_a_zero_capital_as_a_number(
    sample_build: tuple[SampleManifest, Path, BuildSummary],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, data_dir, _ = sample_build
    monkeypatch.setenv("COLUMNS", "200")
    with duckdb.connect() as con:
        found = con.execute(
            f"SELECT e.cnpj FROM read_parquet('{data_dir}/parquet/estabelecimentos/*/*.parquet') e "
            f"JOIN read_parquet('{data_dir}/parquet/empresas/*/*.parquet') m USING (cnpj_basico) "
            "WHERE m.capital_social = 0 ORDER BY 1 LIMIT 1"
        ).fetchall()
    assert found, "the sample has a company with capital 0.00"
    code, out, err = run(capsys, "--data-dir", str(data_dir), "lookup", found[0][0])
    assert code == 0, err
    (line,) = [line for line in out.splitlines() if "capital_social" in line]
    assert re.search(r"capital_social\s+0\.00\b", line), line  # Decimal('0.00') == False: not "no"


def test_unknown_cnpj_duck_variable_warns_with_the_closest_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert unknown_env_warnings({"CNPJ_DUCK_THREAD": "2", "CNPJ_DUCK_THREADS": "2", "OTHER": "x"}) == [
        "unknown environment variable CNPJ_DUCK_THREAD is ignored; did you mean CNPJ_DUCK_THREADS?"
    ]
    seen: list[str] = []
    load_config(None, env={"CNPJ_DUCK_DATADIR": str(tmp_path)}, notify=seen.append)
    assert seen == ["unknown environment variable CNPJ_DUCK_DATADIR is ignored; did you mean CNPJ_DUCK_DATA_DIR?"]
    monkeypatch.setenv("CNPJ_DUCK_THREAD", "2")
    code, _, err = run(capsys, "--data-dir", str(tmp_path), "config")
    assert code == 0, err
    assert err.splitlines() == [
        "warning: unknown environment variable CNPJ_DUCK_THREAD is ignored; did you mean CNPJ_DUCK_THREADS?"
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["query", "--release", "2026-1", "SELECT 1"], "error: Invalid value for --release: '2026-1' is not a month"),
        (["describe", "nonexistent"], "error: no table or view 'nonexistent' in the catalog"),
        (["query", "--no-such-flag"], "error: No such option"),
        (["query", "SELECT 1; SELECT 2"], "error: 2 statements return rows; query shows one result"),
    ],
)
def test_usage_errors_are_one_error_line_and_exit_2(
    sample_build: tuple[SampleManifest, Path, BuildSummary],
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    says: str,
) -> None:
    _, data_dir, _ = sample_build
    code, out, err = run(capsys, "--data-dir", str(data_dir), *args)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(says), err


@pytest.mark.slow  # a second release copied and queried, seconds
def test_query_takes_release_latest_and_one_result_after_settings(
    sample_build: tuple[SampleManifest, Path, BuildSummary], capsys: pytest.CaptureFixture[str]
) -> None:
    _, data_dir, _ = sample_build
    base = ["--data-dir", str(data_dir), "query", "--format", "csv"]
    code, out, err = run(capsys, *base, "--release", "latest", "SELECT count(*) AS n FROM empresas")
    assert code == 0, err
    code, same, err = run(capsys, *base, "--release", "2026-10", "SELECT count(*) AS n FROM empresas")
    assert code == 0 and out == same and out.startswith('"n"\n'), err
    code, out, err = run(capsys, *base, "SET threads = 1; SELECT 2 AS two")
    assert (code, out) == (0, '"two"\n2\n'), err


def test_runs_lists_the_runs_newest_first(
    sample_build: tuple[SampleManifest, Path, BuildSummary], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    _, data_dir, summary = sample_build
    written = sum(t.rows_written for t in summary.tables)
    code, out, err = run(capsys, "--data-dir", str(data_dir), "runs", "--format", "json")
    assert code == 0, err
    found = json.loads(out)
    assert [r["run_id"] for r in found] == sorted((r["run_id"] for r in found), reverse=True)
    (last,) = [r for r in found if r["run_id"] == summary.run_id]
    assert (last["status"], last["release"], last["rows_written"]) == ("succeeded", "2026-10", written)
    assert last["duration_s"] >= 0
    code, out, err = run(capsys, "--data-dir", str(data_dir), "runs", "--limit", "1")
    assert code == 0 and "runs, newest first" in out and f"{written:,}" in out, err


@pytest.mark.slow  # commands in subprocesses, seconds
def test_pipes_get_no_trailing_spaces(
    sample_build: tuple[SampleManifest, Path, BuildSummary], capsys: pytest.CaptureFixture[str]
) -> None:
    _, data_dir, _ = sample_build
    with duckdb.connect() as con:
        (cnpj,) = con.execute(
            f"SELECT min(cnpj) FROM read_parquet('{data_dir}/parquet/estabelecimentos/*/*.parquet')"
        ).fetchone() or ("",)
    for args in (
        ["runs"],
        ["status"],
        ["rejects"],
        ["describe"],
        ["describe", "empresas"],
        ["releases", "--local"],
        ["lookup", cnpj],
    ):
        code, out, err = run(capsys, "--data-dir", str(data_dir), *args)
        assert code == 0, (args, err)
        padded = [line for line in out.splitlines() if line != line.rstrip()]
        assert out.strip() and not padded, (args, padded[:3])


def test_narrow_output_switches_to_records_instead_of_cutting(
    sample_build: tuple[SampleManifest, Path, BuildSummary],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, data_dir, _ = sample_build
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(capsys, "--data-dir", str(data_dir), "rejects", "--table", "estabelecimentos")
    assert code == 0, err
    assert max(map(len, out.splitlines())) <= 80
    tables = [line.split()[1] for line in out.splitlines() if line.startswith("table ")]
    assert tables and set(tables) == {"estabelecimentos"}  # whole, not wrapped as "estabelecimento" / "s"
    raws = [line for line in out.splitlines() if line.startswith("raw ")]
    assert len(raws) == len(tables)
    # a record longer than the 200 characters shown ends with an ellipsis, not mid-record without a word
    from rich.console import Console

    from cnpj_duck.views import rejects_table

    long = {
        "run_id": 1,
        "table_name": "socios",
        "zip_name": "Socios0.zip",
        "line": 12,
        "reason": "field_count",
        "raw": '"1";' * 100,
    }
    console = Console(width=80)
    with console.capture() as captured:
        console.print(rejects_table([long], 80))
    assert captured.get().rstrip().endswith("…") and '"1";' * 50 not in captured.get()
    # the partners of a company with several: every name whole, one record per partner
    with duckdb.connect() as con:
        root, names = con.execute(
            f"SELECT cnpj_basico, list(nome_socio_razao_social) FROM "
            f"read_parquet('{data_dir}/parquet/socios/*/*.parquet') GROUP BY 1 "
            "HAVING count(*) >= 3 AND max(length(nome_socio_razao_social)) >= 18 ORDER BY 1 LIMIT 1"
        ).fetchone() or (None, None)
    assert root, "the sample has a company with three partners"
    code, out, err = run(capsys, "--data-dir", str(data_dir), "lookup", root)
    assert code == 0, err
    assert max(map(len, out.splitlines())) <= 80
    shown = [
        line.strip("│ ").removeprefix("nome").strip()
        for line in out.splitlines()
        if line.strip("│ ").startswith("nome ")
    ]
    assert set(names) <= set(shown), (names, shown)
