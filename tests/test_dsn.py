"""libpq's key/value DSNs (issue 12, item 6): read as libpq reads them, checked, named and redacted like URLs."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from cnpj_duck.config import load_config
from cnpj_duck.dsn import as_url, check_dsn, describe_server, parse_keywords, scrub
from cnpj_duck.export import export_postgres
from cnpj_duck.progress import RecordingProgress

from .conftest import cli_run
from .test_export import _pg_rows, _write_table


def test_keyword_pairs_are_read_as_libpq_reads_them() -> None:
    assert parse_keywords("host=db  port = 5433\tdbname=cnpj password='a b\\'c' user=me\\ x") == [
        ("host", "db"),
        ("port", "5433"),
        ("dbname", "cnpj"),
        ("password", "a b'c"),
        ("user", "me x"),
    ]
    assert parse_keywords("host='' dbname=x") == [("host", ""), ("dbname", "x")]  # an empty value
    assert parse_keywords("host= dbname=x") == [("host", "dbname=x")]  # libpq skips the space after '='
    url = as_url("host=/var/run/postgresql port=6000 dbname=my%db user=me password=p@ss:w/rd sslmode=disable")
    assert url == ("postgresql://me:p%40ss%3Aw%2Frd@/my%25db?host=%2Fvar%2Frun%2Fpostgresql&port=6000&sslmode=disable")
    assert check_dsn(url) is None and as_url(url) == url  # a URL is returned as typed
    assert describe_server("host=10.0.0.5 port=6000 dbname=cnpj") == "10.0.0.5:6000/cnpj"
    assert describe_server("dbname=cnpj") == "localhost:5432/cnpj"


@pytest.mark.parametrize(
    ("dsn", "fault"),
    [
        ("host=db s3cretpw", "a word without '=' after it"),
        ("host=db password='s3cret", "the quoted value of 'password' without its closing quote"),
        ("host=db =x", "an '=' without a key before it"),
    ],
)
def test_a_malformed_keyword_dsn_names_the_fault_not_the_values(dsn: str, fault: str) -> None:
    said = check_dsn(dsn)
    assert said is not None and fault in said and "s3cret" not in said


@pytest.mark.slow  # starts the suite's PostgreSQL, seconds
def test_an_export_reaches_the_server_of_a_keyword_dsn_and_names_it(
    pg, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _write_table(data, "conta", pa.table({"codigo": ["1", "2", "3"]}))
    dsn = f"host={pg.host} port={pg.port} dbname={pg.database} user={pg.user} password='{pg.password}'"
    progress = RecordingProgress()
    config = load_config(None, overrides={"data_dir": str(data)}, env={})
    summary = export_postgres(config, dsn, schema="kv", tables=["conta"], progress=progress)
    assert [t.rows for t in summary.tables] == [3]
    assert _pg_rows(pg, "SELECT count(*) FROM kv.conta") == [(3,)]
    # the pre-export check is said before its scan, not after seconds of silence
    said = [e for e in progress.events if e[0] == "message"]
    assert any("checking conta before the export" in str(e) for e in said), said
    code, out, err = cli_run(
        capsys,
        "--data-dir",
        str(data),
        "export",
        "postgres",
        "--dsn",
        dsn,
        "--schema",
        "kv",
        "--tables",
        "conta",
        "--no-progress",
    )
    assert code == 0, err
    assert f"at {pg.host}:{pg.port}/{pg.database}" in out
    assert "checking conta before the export" in err
    assert pg.password not in out + err
    assert scrub(f"failed for {pg.password}", as_url(dsn)) == "failed for ***"
