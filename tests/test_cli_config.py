"""The CLI end to end, derived tables from a user's sql/ file, and configuration precedence and errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnpj_duck.build import build
from cnpj_duck.cli import cli, main
from cnpj_duck.config import load_config
from cnpj_duck.errors import ConfigError, SqlError

from .conftest import REAL_SAMPLES, REPO_ROOT, catalog, rows


@pytest.mark.slow
def test_sample_then_build_latest_from_raw(tmp_path):
    data = tmp_path / "data"
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "--data-dir",
            str(data),
            "sample",
            "--release",
            "2026-09",
            "--scale",
            "0.0001",
            "--seed",
            "5",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "37 zips" in result.output
    assert len(list((data / "raw" / "2026-09").glob("*.zip"))) == 37
    shutil.copytree(REAL_SAMPLES / "naming-2022", data / "raw" / "2021-06")  # an older month beside it
    result = runner.invoke(cli, ["--data-dir", str(data), "build", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "release 2026-09: succeeded" in result.output  # the latest month present
    assert (data / "parquet" / "empresas" / "release=2026-09").is_dir()
    assert not (data / "parquet" / "empresas" / "release=2021-06").exists()


def test_sample_rejects_a_bad_month():
    result = CliRunner().invoke(cli, ["sample", "--release", "2026-13"])
    assert result.exit_code == 2 and "YYYY-MM" in result.output


@pytest.mark.slow
def test_build_sample_is_the_readme_command(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--data-dir", str(tmp_path / "data"), "build", "--sample", "--quiet"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "release 2026-10: succeeded" in out and "estabelecimentos" in out
    con = catalog(tmp_path / "data")
    command, config, version = con.execute("SELECT command, config, version FROM audit_runs").fetchone()
    con.close()
    assert command == f"cnpj-duck --data-dir {tmp_path / 'data'} build --sample --quiet"
    assert '"memory_limit": "768MB"' in config and version == "0.1.0"
    with pytest.raises(SystemExit) as e:
        main(["--data-dir", str(tmp_path / "data"), "build", "--sample", "--quiet"])
    assert e.value.code == 0 and "skipped" in capsys.readouterr().out


@pytest.mark.slow
def test_a_users_derived_table_is_built_after_what_it_reads(tmp_path):
    sql = tmp_path / "sql"
    shutil.copytree(REPO_ROOT / "sql", sql)
    (sql / "empresas_por_uf.sql").write_text(
        "-- establishments per state with their company's name\n"
        "SELECT e.uf, count(*) AS estabelecimentos, min(c.razao_social) AS exemplo\n"
        "FROM estabelecimentos e LEFT JOIN empresas c USING (cnpj_basico)\n"
        "GROUP BY e.uf ORDER BY e.uf\n"
    )
    (sql / "ufs.sql").write_text("SELECT uf FROM empresas_por_uf")  # reads the derived one: built after it
    config = load_config(None, overrides={"data_dir": str(tmp_path / "data"), "sql_dir": str(sql)}, env={})
    summary = build(config, source=REAL_SAMPLES / "naming-2021", release="2021-06")
    names = [t.name for t in summary.tables]
    assert names.index("empresas_por_uf") > names.index("estabelecimentos")
    assert names.index("ufs") > names.index("empresas_por_uf")
    assert summary.status == "succeeded"
    out = rows(config.data_dir, "empresas_por_uf")
    assert [(r["uf"], r["estabelecimentos"]) for r in out] == [("DF", 1), ("SP", 1)]
    assert [r["uf"] for r in rows(config.data_dir, "ufs")] == ["DF", "SP"]
    again = build(config, source=REAL_SAMPLES / "naming-2021", release="2021-06")
    assert {t.name: t.status for t in again.tables}["empresas_por_uf"] == "skipped"
    assert catalog(config.data_dir).execute(
        "SELECT count(*) FROM audit_tables WHERE table_name = 'empresas_por_uf' AND status = 'succeeded'"
    ).fetchone() == (1,)


@pytest.mark.slow  # a build, seconds
def test_broken_sql_is_reported_before_any_data_is_read(tmp_path):
    sql = tmp_path / "sql"
    shutil.copytree(REPO_ROOT / "sql", sql)
    (sql / "cnaes.sql").write_text("SELECT codigo, no_such_column FROM raw_cnaes")
    (sql / "loop_a.sql").write_text("SELECT * FROM loop_b")
    (sql / "loop_b.sql").write_text("SELECT * FROM loop_a")
    config = load_config(None, overrides={"data_dir": str(tmp_path / "data"), "sql_dir": str(sql)}, env={})
    with pytest.raises(SqlError, match="cycle: loop_a, loop_b"):
        build(config, source=REAL_SAMPLES / "naming-2021", release="2021-06")
    (sql / "loop_b.sql").unlink()
    (sql / "loop_a.sql").unlink()
    summary = build(config, source=REAL_SAMPLES / "naming-2021", release="2021-06")
    (cnaes,) = [t for t in summary.tables if t.name == "cnaes"]
    assert cnaes.status == "failed" and "cnaes.sql" in cnaes.error and "no_such_column" in cnaes.error
    assert catalog(config.data_dir).execute(
        "SELECT count(*) FROM audit_batches b JOIN audit_files f USING (file_id) WHERE f.zip_name LIKE '%CNAE%'"
    ).fetchone() == (0,)


def test_config_precedence_flag_env_file_default(tmp_path):
    file = tmp_path / "config.yaml"
    file.write_text("threads: 3\nmemory_limit: 2GB\ndata_dir: out\nparquet:\n  compression: snappy\n")
    env = {"CNPJ_DUCK_MEMORY_LIMIT": "512MB", "CNPJ_DUCK_PARQUET_ROW_GROUP_SIZE": "1000"}
    config = load_config(file, overrides={"threads": 1}, env=env)
    assert (config.threads, config.memory_limit, config.parquet_compression) == (1, "512MB", "snappy")
    assert config.parquet_row_group_size == 1000 and config.batch_mb == 16
    assert config.sources["threads"] == "flag" and config.sources["memory_limit"] == "CNPJ_DUCK_MEMORY_LIMIT"
    assert config.sources["parquet.compression"] == str(file) and config.sources["batch_mb"] == "default"
    assert config.data_dir == tmp_path / "out"  # relative to the config file


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("threads: two\n", "threads = 'two'"),
        ("threads: 0\n", "from 1 to 256"),
        ("threads: 100000\n", "from 1 to 256"),
        ("batch_mb: 0\n", "from 1 to 1024"),
        ("memory_limit: lots\n", "a size like 1GB"),
        ("memory_limit: 1KB\n", "at least 128MB"),
        ("release: 2026-1\n", "'latest' or a month as YYYY-MM"),
        ("parquet:\n  compression: brotli\n", "one of zstd"),
        ("colour: blue\n", "unknown key 'colour'"),
        ("tables: empresas,bogus\n", "unknown table bogus"),
        ("threads: [1\n", "not valid YAML"),
    ],
)
def test_config_errors_name_the_key_and_what_is_allowed(tmp_path, text, message):
    file = tmp_path / "config.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(file, env={})


def test_unreadable_config_files_are_config_errors(tmp_path):
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "folder.yaml", env={})
    (tmp_path / "latin.yaml").write_bytes("release: 'março'\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(tmp_path / "latin.yaml", env={})


def test_config_error_exit_code_is_2(tmp_path, capsys):
    file = tmp_path / "config.yaml"
    file.write_text("threads: -1\n")
    with pytest.raises(SystemExit) as e:
        main(["--config", str(file), "build", "--sample"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: threads = -1") and len(err.splitlines()) == 1


def test_env_overrides_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CNPJ_DUCK_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    assert config.data_dir == Path(tmp_path / "elsewhere")


@pytest.mark.slow
def test_status_rejects_and_config_commands(tmp_path, capsys):
    import json

    data = str(tmp_path / "data")
    runner = CliRunner()
    with pytest.raises(SystemExit) as e:
        main(["--data-dir", data, "status"])
    assert e.value.code == 2 and "no catalog yet" in capsys.readouterr().err
    assert runner.invoke(cli, ["--data-dir", data, "build", "--sample", "--quiet"]).exit_code == 0

    result = runner.invoke(cli, ["--data-dir", data, "status", "--format", "json"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.output)
    assert run["status"] == "succeeded" and run["config"]["batch_mb"] == 16
    assert [t["table_name"] for t in run["tables"]][:3] == ["cnaes", "empresas", "estabelecimentos"]
    empresas = run["tables"][1]
    assert len(empresas["files"]) == 10 and empresas["rows_rejected"] == 3
    assert sum(f["rows_read"] for f in empresas["files"]) == empresas["rows_read"]
    assert all(b["status"] == "succeeded" for f in empresas["files"] for b in f["batches"])
    assert run["started_at"].startswith("20") and "T" in run["started_at"]

    result = runner.invoke(cli, ["--data-dir", data, "status"])
    assert result.exit_code == 0 and "empresas succeeded" in result.output and "Empresas0.zip" in result.output

    result = runner.invoke(cli, ["--data-dir", data, "rejects", "--table", "socios", "--format", "json"])
    found = json.loads(result.output)
    assert len(found) == 3 and {r["table_name"] for r in found} == {"socios"}
    assert [r["line"] for r in found] == sorted(r["line"] for r in found)
    assert {r["reason"].split(":")[0] for r in found} == {"field_count", "unterminated_quote"}
    result = runner.invoke(cli, ["--data-dir", data, "rejects", "--limit", "2"])
    assert result.exit_code == 0 and "rejects of run 1" in result.output

    result = runner.invoke(cli, ["--data-dir", data, "config", "--format", "json"], env={"CNPJ_DUCK_THREADS": "1"})
    shown = json.loads(result.output)
    assert shown["threads"] == {"value": 1, "from": "CNPJ_DUCK_THREADS"}
    assert shown["data_dir"]["from"] == "flag"


@pytest.mark.slow
def test_log_file_has_json_lines_with_the_audit_context(tmp_path, capsys):
    import json

    log = tmp_path / "build.log"
    with pytest.raises(SystemExit) as e:
        main(["--data-dir", str(tmp_path / "data"), "--log-file", str(log), "build", "--sample", "--quiet"])
    assert e.value.code == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    events = {line["event"] for line in lines}
    assert {"run_succeeded", "table_succeeded", "file_succeeded"} <= events
    (run,) = [line for line in lines if line["event"] == "run_succeeded"]
    assert run["run_id"] == 1 and run["metrics"]["rows_rejected"] == 12 and run["level"] == "info"
    file_line = next(line for line in lines if line["event"] == "file_succeeded" and line.get("file") == "Cnaes.zip")
    assert file_line["table"] == "cnaes" and file_line["metrics"]["rows_written"] == 1359
    assert all(line["time"].endswith("+00:00") for line in lines)
    # a failure lands in the log too
    with pytest.raises(SystemExit):
        main(["--data-dir", str(tmp_path / "data"), "--log-file", str(log), "build", "--release", "1999-01"])
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["level"] == "error" and "1999-01" in last["message"]


def test_passwords_in_urls_are_redacted():
    from cnpj_duck.logs import redact

    assert redact("cannot connect to postgresql://duck:s3cr3t@db:5432/cnpj") == (
        "cannot connect to postgresql://duck:***@db:5432/cnpj"
    )


def test_the_dsn_is_a_secret_read_only_from_the_environment_or_a_flag(tmp_path: Path) -> None:
    file = tmp_path / "config.yaml"
    file.write_text("export:\n  dsn: postgresql://u:hunter2@localhost/db\n")
    with pytest.raises(ConfigError, match="secret.*CNPJ_DUCK_PG_DSN") as caught:
        load_config(file, env={})
    assert "hunter2" not in str(caught.value)
    config = load_config(None, env={"CNPJ_DUCK_PG_DSN": "postgresql://u:hunter2@localhost/db"})
    assert config.export_dsn.endswith("@localhost/db") and config.sources["export.dsn"] == "CNPJ_DUCK_PG_DSN"
    assert config.redacted()["export.dsn"] == "***"
    with pytest.raises(ConfigError, match="export.dsn = '\\*\\*\\*' \\(flag --dsn\\)") as caught:
        load_config(None, env={}, overrides={"export.dsn": "mysql://u:hunter2@h/db"})
    assert "hunter2" not in str(caught.value)


def test_download_settings_take_numbers_from_the_environment(tmp_path: Path) -> None:
    config = load_config(None, env={"CNPJ_DUCK_DOWNLOAD_STALL_TIMEOUT": "2.5", "CNPJ_DUCK_DOWNLOAD_CONCURRENCY": "2"})
    assert (config.download_stall_timeout, config.download_concurrency) == (2.5, 2)
    with pytest.raises(ConfigError, match=r"download.backoff = .soon. \(CNPJ_DUCK_DOWNLOAD_BACKOFF\): expected a n"):
        load_config(None, env={"CNPJ_DUCK_DOWNLOAD_BACKOFF": "soon"})
    with pytest.raises(ConfigError, match="download.mode = 'ftp'.*'webdav'"):
        load_config(None, env={"CNPJ_DUCK_DOWNLOAD_MODE": "ftp"})


def test_urls_with_passwords_and_the_share_token_are_never_shown(tmp_path: Path) -> None:
    config = load_config(
        None,
        env={
            "CNPJ_DUCK_DOWNLOAD_BASE_URL": "http://bob:MyPassw0rd@mirror.example/cnpj/",
            "CNPJ_DUCK_DOWNLOAD_TOKEN": "s3cr3tT0ken",
        },
    )
    shown = config.redacted()
    assert shown["download.base_url"] == "http://bob:***@mirror.example/cnpj/"
    assert shown["download.token"] == "***"
    assert config.download_token == "s3cr3tT0ken"  # the value itself is intact for use


def test_the_audit_command_line_hides_secret_flags(monkeypatch) -> None:
    from cnpj_duck import cli_common

    monkeypatch.setitem(
        cli_common.state,
        "argv",
        [
            "download",
            "--token",
            "s3cr3t",
            "--base-url",
            "http://u:pw@h/x",
            "export",
            "postgres",
            "--dsn=postgresql://u:pw@h/db",
            "--tables",
            "empresas",
        ],
    )
    line = cli_common.command_line()
    assert "s3cr3t" not in line and ":pw@" not in line
    assert line == (
        "cnpj-duck download --token '***' --base-url 'http://u:***@h/x' export postgres '--dsn=***' --tables empresas"
    )


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:Top@Secret@127.0.0.1:5432/db",
        "postgresql://u:Top/Secret@127.0.0.1/db",
        "postgresql://u:pw@[::1/db",
        "postgresql://u:pw@h:abc/db",
        "postgresql://u:pw@h:99999/db",
        "postgresql://u:p%zzSecret@h/db",
        "mysql://u:Secret@h/db",
    ],
)
def test_a_malformed_dsn_is_a_usage_error_that_does_not_repeat_it(dsn: str) -> None:
    with pytest.raises(ConfigError, match=r"export.dsn = '\*\*\*' \(CNPJ_DUCK_PG_DSN\): expected a URL") as caught:
        load_config(None, env={"CNPJ_DUCK_PG_DSN": dsn})
    assert "Secret" not in str(caught.value) and "Top" not in str(caught.value)


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:pw@localhost:5432/db",
        "postgres://u:p%40ss@[::1]:5432/db",
        "postgresql:///db?host=/var/run/postgresql",
        "postgresql://h1:5432,h2:5433/db",
    ],
)
def test_well_formed_dsns_are_accepted(dsn: str) -> None:
    assert load_config(None, env={"CNPJ_DUCK_PG_DSN": dsn}).export_dsn == dsn


def test_the_core_never_imports_the_ui_libraries() -> None:
    import subprocess
    import sys

    core = [
        "layout",
        "sample",
        "ingest",
        "transform",
        "audit",
        "build",
        "catalog",
        "query",
        "cnpj",
        "lookup",
        "diff",
        "export",
        "export_stream",
        "export_staging",
        "postgres",
        "dsn",
        "download",
        "remote",
        "config",
        "errors",
        "progress",
        "logs",
    ]
    code = (
        f"import sys\nfor m in {core!r}: __import__('cnpj_duck.' + m)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('click', 'rich')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
