"""cnpj-duck as an installed package: the wheel carries the SQL project, and a user's sql_dir lies over it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from cnpj_duck.sqlfiles import PACKAGED, SqlDir, init_sql, packaged_sql_dir

REPO_ROOT = Path(__file__).resolve().parent.parent


def _sql_files_of_checkout() -> list[str]:
    root = REPO_ROOT / "sql"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.suffix in (".sql", ".md"))


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
def test_the_wheel_carries_the_sql_and_works_from_an_empty_folder(tmp_path: Path) -> None:
    """Issue 14's 'done when': a wheel (not editable) installed in a fresh venv builds the sample and answers a
    query over a view, from a folder with no checkout in sight."""
    wheels = tmp_path / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(REPO_ROOT)],
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("cnpj_duck-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"cnpj_duck/sql/{name}" for name in _sql_files_of_checkout()} <= names
    assert {"cnpj_duck/audit.sql", "cnpj_duck/sample/__init__.py", "cnpj_duck/__main__.py"} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)

    # A fresh venv with the wheel alone in it; the dependencies come from this test's own environment through a
    # .pth line (its .pth files, the checkout's editable install among them, are not run from there).
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path
        ).stdout.strip()
    )
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
        cwd=tmp_path,
    )

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNPJ_DUCK_")}
    where = _run([str(python), "-c", "import cnpj_duck.sqlfiles as s; print(s.packaged_sql_dir())"], empty, env)
    assert Path(where.stdout.strip()).is_relative_to(site)  # the wheel's copy, not the checkout's
    cli = str(venv / "bin" / "cnpj-duck")
    _run([cli, "build", "--sample", "--no-progress"], empty, env)
    count = _run([cli, "query", "select count(*) AS n from estabelecimentos_completos", "--format", "csv"], empty, env)
    base = _run([cli, "query", "select count(*) AS n from estabelecimentos", "--format", "csv"], empty, env)
    assert count.stdout.splitlines()[0] == '"n"' and int(count.stdout.splitlines()[1]) > 10_000
    assert count.stdout == base.stdout  # one row per establishment
    version = _run([str(python), "-m", "cnpj_duck", "--version"], empty, env)
    assert version.stdout.strip() == "cnpj-duck, version 0.1.0"
    assert sorted(p.name for p in empty.iterdir()) == ["data"]  # it wrote only its data dir


def test_the_packaged_sql_is_the_checkouts_sql_folder() -> None:
    """The editable install maps cnpj_duck.sql onto the top-level sql/: one copy of the files."""
    assert packaged_sql_dir() == REPO_ROOT / "sql"
    assert [p.name for p in SqlDir().files("views")] == sorted(p.name for p in (REPO_ROOT / "sql/views").glob("*.sql"))


def test_a_users_folder_adds_files_and_replaces_them_by_relative_path(tmp_path: Path) -> None:
    user = tmp_path / "mine"
    (user / "views").mkdir(parents=True)
    (user / "empresas.sql").write_text("SELECT * FROM raw_empresas")
    (user / "extra.sql").write_text("SELECT 1 AS x")
    (user / "views" / "minha.sql").write_text("SELECT * FROM empresas")
    (user / "_macros.sql").write_text("-- no macros")
    sql = SqlDir(user)
    names = {p.name: p for p in sql.files()}
    assert names["empresas.sql"] == user / "empresas.sql" and names["extra.sql"] == user / "extra.sql"
    assert names["socios.sql"] == packaged_sql_dir() / "socios.sql"
    assert sorted(names) == sorted({p.name for p in SqlDir().files()} | {"extra.sql"})
    assert [p.name for p in sql.files("views")] == [
        "cnaes_secundarias.sql",
        "estabelecimentos_completos.sql",
        "minha.sql",
        "socios_completos.sql",
    ]
    assert sql.file("_macros.sql") == user / "_macros.sql"
    assert sql.file("checks/_qualidade.sql") == packaged_sql_dir() / "checks" / "_qualidade.sql"
    assert sql.file("views/none.sql") is None
    assert sql.origin(names["socios.sql"]) == PACKAGED and sql.origin(names["extra.sql"]) == str(user / "extra.sql")


def test_sql_init_copies_the_packaged_files_and_keeps_existing_ones(tmp_path: Path) -> None:
    from cnpj_duck.errors import UsageError

    target = tmp_path / "mine"
    target.mkdir()
    (target / "empresas.sql").write_text("-- mine")
    with pytest.raises(UsageError, match=r"mine: already has empresas.sql; pass --force"):
        init_sql(target)
    assert [p.name for p in target.iterdir()] == ["empresas.sql"] and (target / "empresas.sql").read_text() == "-- mine"
    done = init_sql(target, force=True)
    assert sorted(done.written) == _sql_files_of_checkout() and done.replaced == ("empresas.sql",)
    for name in done.written:
        assert (target / name).read_bytes() == (REPO_ROOT / "sql" / name).read_bytes()
    assert not (target / "__init__.py").exists()
    assert init_sql(tmp_path / "new").replaced == ()


@pytest.mark.slow
def test_a_users_sql_dir_replaces_a_transform_and_adds_a_view_in_a_build(tmp_path: Path, capsys) -> None:
    """sql_dir by flag: cnaes.sql of the user's replaces the packaged one, views/ gains a view; describe says
    which file each came from; a sql_dir that is not there is one error line."""
    from .conftest import REAL_SAMPLES, cli_run, rows

    mine = tmp_path / "mine"
    (mine / "views").mkdir(parents=True)
    packaged = (packaged_sql_dir() / "cnaes.sql").read_text(encoding="utf-8")
    import re

    mine_sql, replaced = re.subn(r"\bdescricao(\s+)AS descricao", r"upper(descricao)\1AS descricao", packaged)
    assert replaced == 1, packaged  # the packaged transform's column, as written there
    (mine / "cnaes.sql").write_text(mine_sql)
    (mine / "views" / "cnaes_curtas.sql").write_text(
        "-- cnaes_curtas: the activities with a short description\n"
        "SELECT codigo, descricao AS descricao -- its description, upper case\n"
        "FROM cnaes WHERE length(descricao) < 40\n"
    )
    data = tmp_path / "data"
    args = ["--data-dir", str(data), "--sql-dir", str(mine)]
    code, _, err = cli_run(
        capsys, *args, "build", "--source", str(REAL_SAMPLES / "naming-2021"), "--release", "2021-06", "--quiet"
    )
    assert code == 0, err
    descriptions = [r["descricao"] for r in rows(data, "cnaes")]
    assert descriptions and all(d == d.upper() for d in descriptions)
    assert any(d != d.upper() for d in [r["descricao"] for r in rows(data, "naturezas")])  # packaged: as published
    code, out, err = cli_run(capsys, *args, "describe", "--format", "json")
    assert code == 0, err
    source = {o["name"]: o["source"] for o in json.loads(out)}
    assert source["cnaes"] == source["cnaes_history"] == str(mine / "cnaes.sql")
    assert source["cnaes_curtas"] == str(mine / "views" / "cnaes_curtas.sql")
    assert source["naturezas"] == source["estabelecimentos_completos"] == source["qualidade"] == PACKAGED
    assert source["audit_runs"] is None
    code, out, _ = cli_run(capsys, *args, "query", "SELECT count(*) AS n FROM cnaes_curtas", "--format", "csv")
    assert code == 0 and int(out.splitlines()[1]) > 0
    code, _, err = cli_run(capsys, "--data-dir", str(data), "--sql-dir", str(tmp_path / "nao"), "describe")
    assert code == 2 and err.startswith("error: sql_dir = ") and "(flag --sql-dir): no such folder" in err
    assert len(err.strip().splitlines()) == 1


def test_sql_init_on_the_command_line(tmp_path: Path, capsys) -> None:
    from .conftest import cli_run

    code, out, err = cli_run(capsys, "sql", "init", str(tmp_path / "mine"))
    assert (
        code == 0
        and sorted(str(p.relative_to(tmp_path / "mine")) for p in (tmp_path / "mine").rglob("*") if p.is_file())
        == _sql_files_of_checkout()
    )
    assert f"sql_dir: {tmp_path / 'mine'}" in err or "--sql-dir" in err
    code, _, err = cli_run(capsys, "sql", "init", str(tmp_path / "mine"))
    assert code == 2 and err.startswith("error: ") and "--force" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli_run(capsys, "sql", "init", str(tmp_path / "mine"), "--force")
    assert code == 0, err
