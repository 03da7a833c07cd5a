"""`cnpj-duck serve` (issue 15): the real server on a free loopback port over a copy of the session's sample build,
called with a real HTTP client; every answer checked against the Parquet it was built from.

The expected objects are computed here from the Parquet with plain SQL and the rules of shared/API_COMPAT.md,
not with the server's own shaping code.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cnpj_duck import privacy
from cnpj_duck.cnpj import format_cnpj
from cnpj_duck.config import load_config
from cnpj_duck.ibge import IbgeCodes, load_ibge
from cnpj_duck.serve.params import BadRequestError, parse_search
from cnpj_duck.serve.pool import Database, QueryTimeoutError, Runner
from cnpj_duck.store import RELEASE_TABLES, Store
from cnpj_duck.tables import LOOKUP_TABLES

from .conftest import cli_run

RELEASE = "2026-10"

# The type of every field of the establishment object (API_COMPAT.md); a tuple allows null.
NULLABLE_STR = (str, type(None))
NULLABLE_INT = (int, type(None))
NULLABLE_BOOL = (bool, type(None))
FIELD_TYPES: dict[str, Any] = {
    "cnpj": str,
    "identificador_matriz_filial": int,
    "descricao_identificador_matriz_filial": str,
    "nome_fantasia": str,
    "situacao_cadastral": int,
    "descricao_situacao_cadastral": str,
    "data_situacao_cadastral": NULLABLE_STR,
    "motivo_situacao_cadastral": int,
    "descricao_motivo_situacao_cadastral": NULLABLE_STR,
    "nome_cidade_no_exterior": str,
    "codigo_pais": NULLABLE_INT,
    "pais": NULLABLE_STR,
    "data_inicio_atividade": NULLABLE_STR,
    "cnae_fiscal": int,
    "cnae_fiscal_descricao": NULLABLE_STR,
    "descricao_tipo_de_logradouro": str,
    "logradouro": str,
    "numero": str,
    "complemento": str,
    "bairro": str,
    "cep": str,
    "uf": str,
    "codigo_municipio": int,
    "codigo_municipio_ibge": NULLABLE_INT,
    "municipio": NULLABLE_STR,
    "ddd_telefone_1": str,
    "ddd_telefone_2": str,
    "ddd_fax": str,
    "email": NULLABLE_STR,
    "situacao_especial": str,
    "data_situacao_especial": NULLABLE_STR,
    "opcao_pelo_simples": NULLABLE_BOOL,
    "data_opcao_pelo_simples": NULLABLE_STR,
    "data_exclusao_do_simples": NULLABLE_STR,
    "opcao_pelo_mei": NULLABLE_BOOL,
    "data_opcao_pelo_mei": NULLABLE_STR,
    "data_exclusao_do_mei": NULLABLE_STR,
    "razao_social": str,
    "codigo_natureza_juridica": int,
    "natureza_juridica": NULLABLE_STR,
    "qualificacao_do_responsavel": int,
    "capital_social": (int, float),
    "codigo_porte": int,
    "porte": str,
    "ente_federativo_responsavel": str,
    "regime_tributario": type(None),
    "qsa": list,
    "cnaes_secundarios": list,
}
PARTNER_TYPES: dict[str, Any] = {
    "identificador_de_socio": int,
    "nome_socio": str,
    "cnpj_cpf_do_socio": str,
    "codigo_qualificacao_socio": int,
    "qualificacao_socio": NULLABLE_STR,
    "data_entrada_sociedade": NULLABLE_STR,
    "codigo_pais": NULLABLE_INT,
    "pais": NULLABLE_STR,
    "cpf_representante_legal": str,
    "nome_representante_legal": str,
    "codigo_qualificacao_representante_legal": int,
    "qualificacao_representante_legal": NULLABLE_STR,
    "codigo_faixa_etaria": int,
    "faixa_etaria": str,
}
SITUACAO = {"01": "NULA", "02": "ATIVA", "03": "SUSPENSA", "04": "INAPTA", "08": "BAIXADA"}
PORTE = {"00": "NÃO INFORMADO", "01": "MICRO EMPRESA", "03": "EMPRESA DE PEQUENO PORTE", "05": "DEMAIS"}
FAIXA = {
    "0": "Não se aplica",
    "1": "Entre 0 a 12 anos",
    "2": "Entre 13 a 20 anos",
    "3": "Entre 21 a 30 anos",
    "4": "Entre 31 a 40 anos",
    "5": "Entre 41 a 50 anos",
    "6": "Entre 51 a 60 anos",
    "7": "Entre 61 a 70 anos",
    "8": "Entre 71 a 80 anos",
    "9": "Maior de 80 anos",
}


# --- the data, read straight from the Parquet -------------------------------------------------------------------


class Parquet:
    """The built release's tables, queried with plain SQL."""

    def __init__(self, data_dir: Path, release: str = RELEASE) -> None:
        self.con = duckdb.connect()
        store = Store(data_dir)
        for table in RELEASE_TABLES:
            store.read_table(self.con, table, release, file_row_number=True, filename=True).create_view(table)
        self.lookups = {
            t: dict(self.con.execute(f"SELECT codigo, descricao FROM {t}").fetchall()) for t in LOOKUP_TABLES
        }

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        rel = self.con.execute(sql, params or [])
        names = [d[0] for d in rel.description]
        return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]

    def cnpjs(self, where: str, params: list[Any] | None = None) -> list[str]:
        return [
            r[0]
            for r in self.con.execute(
                f"SELECT DISTINCT e.cnpj FROM estabelecimentos e WHERE {where} ORDER BY 1", params or []
            ).fetchall()
        ]

    def pick(self, where: str) -> str:
        """A CNPJ matching `where` that the release lists once, whose company row is single too (preferring one
        whose Simples row is single: with a repeated one, the API shows one of them)."""
        found = self.con.execute(
            "SELECT e.cnpj FROM estabelecimentos e LEFT JOIN empresas c USING (cnpj_basico) "
            f"WHERE {where} AND (SELECT count(*) FROM estabelecimentos x WHERE x.cnpj = e.cnpj) = 1 "
            "AND (SELECT count(*) FROM empresas x WHERE x.cnpj_basico = e.cnpj_basico) = 1 "
            "ORDER BY (SELECT count(*) FROM simples x WHERE x.cnpj_basico = e.cnpj_basico) > 1, e.cnpj LIMIT 1"
        ).fetchall()
        assert found, f"the sample has no establishment with {where}"
        return found[0][0]

    def expected(self, cnpj: str, private: bool, ibge: IbgeCodes, simples_row: int = 0) -> dict[str, Any]:
        """The API object of one establishment, by API_COMPAT.md's rules (with the company's n-th Simples row)."""
        (e,) = self.rows("SELECT * EXCLUDE (filename, file_row_number) FROM estabelecimentos WHERE cnpj = ?", [cnpj])
        c = (self.rows("SELECT * FROM empresas WHERE cnpj_basico = ?", [e["cnpj_basico"]]) or [{}])[0]
        s = (self.rows("SELECT * FROM simples WHERE cnpj_basico = ?", [e["cnpj_basico"]]) or [{}])[simples_row]
        partners = self.rows(
            "SELECT * FROM socios WHERE cnpj_basico = ? ORDER BY filename, file_row_number", [e["cnpj_basico"]]
        )
        individual = c.get("natureza_juridica") in privacy.INDIVIDUAL_NATURES or bool(s.get("opcao_mei"))

        def blank_if_private(value: str | None) -> str:
            return "" if private and individual else (value or "")

        def phone(ddd: str | None, number: str | None) -> str:
            if private and individual or not (number or "").strip("0 "):
                return ""
            return f"{ddd or ''}{number}"

        def d(value: date | None) -> str | None:
            return value.isoformat() if value else None

        def n(value: str | None) -> int | None:
            return int(value) if value else None

        fantasia = e["nome_fantasia"] or ""
        if private:  # a CPF-looking run of 11 digits leaves, with the spaces around it
            fantasia = " ".join(
                re.sub(r"(?<![0-9])[0-9]{3}\.?[0-9]{3}\.?[0-9]{3}-?[0-9]{2}(?![0-9])", " ", fantasia).split()
            )
        return {
            "cnpj": cnpj,
            "identificador_matriz_filial": int(e["identificador_matriz_filial"]),
            "descricao_identificador_matriz_filial": {"1": "MATRIZ", "2": "FILIAL"}[e["identificador_matriz_filial"]],
            "nome_fantasia": fantasia,
            "situacao_cadastral": int(e["situacao_cadastral"]),
            "descricao_situacao_cadastral": SITUACAO[e["situacao_cadastral"]],
            "data_situacao_cadastral": d(e["data_situacao_cadastral"]),
            "motivo_situacao_cadastral": int(e["motivo_situacao_cadastral"]),
            "descricao_motivo_situacao_cadastral": self.lookups["motivos"].get(e["motivo_situacao_cadastral"]),
            "nome_cidade_no_exterior": e["nome_cidade_exterior"] or "",
            "codigo_pais": n(e["pais"]),
            "pais": self.lookups["paises"].get(e["pais"]),
            "data_inicio_atividade": d(e["data_inicio_atividade"]),
            "cnae_fiscal": int(e["cnae_fiscal_principal"]),
            "cnae_fiscal_descricao": self.lookups["cnaes"].get(e["cnae_fiscal_principal"]),
            "descricao_tipo_de_logradouro": blank_if_private(e["tipo_logradouro"]),
            "logradouro": blank_if_private(e["logradouro"]),
            "numero": blank_if_private(e["numero"]),
            "complemento": blank_if_private(e["complemento"]),
            "bairro": e["bairro"] or "",
            "cep": blank_if_private(e["cep"]),
            "uf": e["uf"],
            "codigo_municipio": int(e["municipio"]),
            "codigo_municipio_ibge": ibge.by_siafi.get(e["municipio"]),
            "municipio": self.lookups["municipios"].get(e["municipio"]),
            "ddd_telefone_1": phone(e["ddd_1"], e["telefone_1"]),
            "ddd_telefone_2": phone(e["ddd_2"], e["telefone_2"]),
            "ddd_fax": phone(e["ddd_fax"], e["fax"]),
            "email": None if private else e["correio_eletronico"],
            "situacao_especial": e["situacao_especial"] or "",
            "data_situacao_especial": d(e["data_situacao_especial"]),
            "opcao_pelo_simples": s.get("opcao_simples"),
            "data_opcao_pelo_simples": d(s.get("data_opcao_simples")),
            "data_exclusao_do_simples": d(s.get("data_exclusao_simples")),
            "opcao_pelo_mei": s.get("opcao_mei"),
            "data_opcao_pelo_mei": d(s.get("data_opcao_mei")),
            "data_exclusao_do_mei": d(s.get("data_exclusao_mei")),
            "razao_social": c.get("razao_social") or "",
            "codigo_natureza_juridica": n(c.get("natureza_juridica")),
            "natureza_juridica": self.lookups["naturezas"].get(c.get("natureza_juridica")),
            "qualificacao_do_responsavel": n(c.get("qualificacao_responsavel")),
            "capital_social": float(c["capital_social"]) if c.get("capital_social") is not None else None,
            "codigo_porte": n(c.get("porte_empresa")),
            "porte": PORTE.get(c.get("porte_empresa")),
            "ente_federativo_responsavel": c.get("ente_federativo_responsavel") or "",
            "regime_tributario": None,
            "qsa": [
                {
                    "identificador_de_socio": int(p["identificador_socio"]),
                    "nome_socio": p["nome_socio_razao_social"] or "",
                    "cnpj_cpf_do_socio": p["cnpj_cpf_socio"] or "",
                    "codigo_qualificacao_socio": int(p["qualificacao_socio"]),
                    "qualificacao_socio": self.lookups["qualificacoes"].get(p["qualificacao_socio"]),
                    "data_entrada_sociedade": d(p["data_entrada_sociedade"]),
                    "codigo_pais": n(p["pais"]),
                    "pais": self.lookups["paises"].get(p["pais"]),
                    "cpf_representante_legal": p["representante_legal"] or "",
                    "nome_representante_legal": p["nome_representante"] or "",
                    "codigo_qualificacao_representante_legal": int(p["qualificacao_representante_legal"]),
                    "qualificacao_representante_legal": self.lookups["qualificacoes"].get(
                        p["qualificacao_representante_legal"]
                    ),
                    "codigo_faixa_etaria": int(p["faixa_etaria"]),
                    "faixa_etaria": FAIXA[p["faixa_etaria"]],
                }
                for p in partners
            ],
            "cnaes_secundarios": [
                {"codigo": int(code), "descricao": self.lookups["cnaes"].get(code)}
                for code in e["cnae_fiscal_secundaria"] or ()
            ],
        }


# --- the server ---------------------------------------------------------------------------------------------------


@dataclass
class Server:
    """A `cnpj-duck serve` subprocess on 127.0.0.1, its stderr kept in a file."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, Any]:
        status, _, body = self.call("GET", path)
        return status, json.loads(body) if body else None

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines() if line.startswith("{")]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, *args: str, env: dict[str, str] | None = None, wait: float = 120) -> Server:
    """Start `cnpj-duck serve` and wait until /healthz answers."""
    port = free_port()
    log = data_dir.parent / f"serve-{port}.log"
    command = [sys.executable, "-m", "cnpj_duck.cli", "--data-dir", str(data_dir), "serve", "--port", str(port), *args]
    with log.open("wb") as err:
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=data_dir.parent,
            env={**os.environ, "CNPJ_DUCK_SERVE_POLL": "0.3", **(env or {})},
        )
    server = Server(process, port, log)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}: {log.read_text(encoding='utf-8')}")
        try:
            if server.call("GET", "/healthz")[0] == 200:
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"serve did not answer in {wait} s: {log.read_text(encoding='utf-8')}")


def write_ibge(path: Path, parquet: Parquet) -> IbgeCodes:
    """A SIAFI-to-IBGE table in the Tesouro's layout for every municipality of the sample (made-up IBGE codes)."""
    lines = ["CODIGO SIAFI;CNPJ;DESCRICAO;UF;CODIGO IBGE"]
    for n, (code, name) in enumerate(sorted(parquet.lookups["municipios"].items())):
        lines.append(f"{int(code)};{n:014d};{name};XX;{5000000 + n}")
    path.write_text("\n".join(lines) + "\n", encoding="latin-1", errors="replace")
    return load_ibge(path)


def give_a_trade_name_a_cpf(data: Path) -> None:
    """Give one individual entrepreneur the trade name of its legal name, CPF included (common in real data; the
    sample puts CPFs in legal names only): the part file holding it is rewritten with the same rows."""
    store = Store(data)
    con = duckdb.connect()
    store.read_table(con, "empresas", RELEASE).create_view("empresas")
    for part in store.part_files("estabelecimentos", RELEASE):
        found = con.execute(
            f"SELECT e.cnpj, c.razao_social FROM read_parquet('{part}', hive_partitioning = false) e "
            "JOIN empresas c USING (cnpj_basico) "
            "WHERE c.natureza_juridica = '2135' AND regexp_matches(c.razao_social, ' [0-9]{11}$') ORDER BY 1 LIMIT 1"
        ).fetchall()
        if found:
            (cnpj, name), changed = found[0], part.with_suffix(".new")
            con.execute(
                f"COPY (SELECT * REPLACE (CASE WHEN cnpj = ? THEN ? ELSE nome_fantasia END AS nome_fantasia) FROM "
                f"read_parquet('{part}', hive_partitioning = false)) TO '{changed}' (FORMAT parquet)",
                [cnpj, name],
            )
            changed.replace(part)
            return
    raise AssertionError("the sample has no individual entrepreneur with a CPF in its legal name")


@pytest.fixture(scope="module")
def served(
    sample_build: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server, Parquet, IbgeCodes]]:
    """A copy of the sample build served twice: with privacy (the default) and an IBGE table, and without."""
    _, source, _ = sample_build
    data = tmp_path_factory.mktemp("serve") / "data"
    shutil.copytree(source, data)
    give_a_trade_name_a_cpf(data)
    parquet = Parquet(data)
    ibge = write_ibge(data.parent / "tabmun.csv", parquet)
    private = start_server(data, "--ibge", str(data.parent / "tabmun.csv"))
    try:
        public = start_server(data, "--no-privacy")
        try:
            yield private, public, parquet, ibge
        finally:
            public.stop()
    finally:
        private.stop()


def all_pages(server: Server, query: str) -> tuple[list[Any], int]:
    """Every item of a search, following the cursors; and the number of pages."""
    items: list[Any] = []
    cursor: str | None = None
    pages = 0
    while True:
        status, body = server.get(f"/?{query}" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, body
        pages += 1
        items.extend(body["data"])
        cursor = body.get("cursor")
        if cursor is None:
            return items, pages
        assert cursor == (body["data"][-1] if isinstance(body["data"][-1], str) else body["data"][-1]["cnpj"])
        assert pages < 10_000


# --- every row of API_COMPAT.md's table ---------------------------------------------------------------------------


@pytest.mark.slow
def test_every_path_of_the_interface(served: tuple[Server, Server, Parquet, IbgeCodes]) -> None:
    server, _, parquet, _ = served
    cnpj = parquet.pick("true")
    for spelling in (cnpj, format_cnpj(cnpj)):
        status, body = server.get(f"/{spelling}")
        assert status == 200 and body["cnpj"] == cnpj
    wrong = cnpj[:12] + f"{(int(cnpj[12:]) + 1) % 100:02d}"
    assert server.get(f"/{wrong}") == (400, {"message": f"CNPJ {wrong} inválido."})
    assert server.get("/12.345.678/0001-9") == (400, {"message": "CNPJ 12.345.678/0001-9 inválido."})
    absent = "12345678000195"
    assert not parquet.cnpjs("cnpj = ?", [absent])
    assert server.get(f"/{absent}") == (404, {"message": "CNPJ 12.345.678/0001-95 não encontrado."})
    for method in ("POST", "HEAD"):
        status, _, body = server.call(method, "/")
        assert status == 405
        assert method == "HEAD" or json.loads(body) == {"message": "Essa URL aceita apenas o método GET."}
    assert server.call("POST", f"/{cnpj}", b"{}")[0] == 405
    status, headers, _ = server.call("GET", "/")
    assert status == 302 and headers["location"] == "/docs"
    assert server.call("GET", "/docs")[0] == 200
    status, openapi = server.get("/openapi.json")
    assert status == 200 and {"/", "/{cnpj}", "/updated", "/healthz"} <= set(openapi["paths"])
    status, body = server.get("/?uf=SP&limit=5")
    assert status == 200 and len(body["data"]) == 5 and body["cursor"] == body["data"][-1]["cnpj"]
    status, body = server.get("/updated")
    assert status == 200 and body["release"] == RELEASE and body["data_extracao"] == "2026-10-11"
    assert "2026-10-11" in body["message"]
    for method in ("GET", "HEAD"):
        assert server.call(method, "/healthz")[::2] == (200, b"")


@pytest.mark.slow
def test_the_docs_pages_work_offline(served: tuple[Server, Server, Parquet, IbgeCodes]) -> None:
    """/docs and /redoc load their scripts and styles from the server itself, never from another host."""
    server, _, _, _ = served
    for page in ("/docs", "/redoc"):
        status, headers, body = server.call("GET", page)
        assert status == 200 and headers["content-type"].startswith("text/html")
        html = body.decode()
        urls = re.findall(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']""", html)
        urls += re.findall(r"""\burl\s*:\s*["']([^"']+)["']""", html)
        assert urls and "/openapi.json" in urls
        assert not [u for u in urls if "//" in u], f"{page} loads from another host: {urls}"
        assert not re.search(r"https?://", html), f"{page} names another host"
        for url in urls:
            status, headers, asset = server.call("GET", url)
            assert status == 200 and len(asset) > 100, (page, url, status)
    status, headers, script = server.call("GET", "/docs-assets/swagger-ui-bundle.js")
    assert status == 200 and "javascript" in headers["content-type"] and len(script) > 100_000
    assert {"method": "GET", "path": "/docs-assets/swagger-ui-bundle.js", "status": 200} in [
        {k: line.get(k) for k in ("method", "path", "status")} for line in server.log_lines()
    ]


@pytest.mark.slow
def test_fields_match_the_parquet_value_by_value(served: tuple[Server, Server, Parquet, IbgeCodes]) -> None:
    private, public, parquet, ibge = served
    chosen = {
        "partners": parquet.pick("(SELECT count(*) FROM socios s WHERE s.cnpj_basico = e.cnpj_basico) >= 2"),
        "secondary CNAEs": parquet.pick("len(e.cnae_fiscal_secundaria) >= 3"),
        "alphanumeric": parquet.pick("regexp_matches(e.cnpj, '[A-Z]')"),
        "orphan motivo": parquet.pick("e.motivo_situacao_cadastral = '32'"),
        "orphan natureza": parquet.pick("c.natureza_juridica IN ('2291', '3328', '8885')"),
        "individual with e-mail": parquet.pick(
            "c.natureza_juridica = '2135' AND e.correio_eletronico IS NOT NULL "
            "AND e.telefone_1 IS NOT NULL AND e.logradouro IS NOT NULL"
        ),
        "MEI": parquet.pick("e.cnpj_basico IN (SELECT cnpj_basico FROM simples WHERE opcao_mei)"),
        "abroad": parquet.pick("e.uf = 'EX' AND e.pais IS NOT NULL"),
    }
    for what, cnpj in chosen.items():
        for server, is_private, codes in ((private, True, ibge), (public, False, IbgeCodes())):
            status, got = server.get(f"/{format_cnpj(cnpj).lower()}")
            assert status == 200, (what, got)
            repeats = len(parquet.rows("SELECT 1 FROM simples WHERE cnpj_basico = ?", [cnpj[:8]]))
            candidates = [parquet.expected(cnpj, is_private, codes, n) for n in range(max(repeats, 1))]
            # A Simples row the release repeats: the answer holds one of them, whole.
            want = next(
                (
                    c
                    for c in candidates
                    if c["data_opcao_pelo_simples"] == got["data_opcao_pelo_simples"]
                    and c["opcao_pelo_mei"] == got["opcao_pelo_mei"]
                ),
                candidates[0],
            )
            assert list(got) == list(FIELD_TYPES), what
            for field, value in want.items():
                if field == "qsa":  # the API does not order partners; compare them as a set
                    got[field], value = (
                        sorted(x, key=lambda p: json.dumps(p, sort_keys=True)) for x in (got[field], value)
                    )
                assert got[field] == value, (what, is_private, field)
            for field, kind in FIELD_TYPES.items():
                assert isinstance(got[field], kind) and not (kind is int and isinstance(got[field], bool)), field
            for partner in got["qsa"]:
                assert list(partner) == list(PARTNER_TYPES)
                assert all(isinstance(partner[f], k) for f, k in PARTNER_TYPES.items()), partner
    _, got = public.get(f"/{chosen['partners']}")
    assert len(got["qsa"]) >= 2
    _, got = public.get(f"/{chosen['secondary CNAEs']}")
    assert len(got["cnaes_secundarios"]) >= 3 and all(isinstance(c["codigo"], int) for c in got["cnaes_secundarios"])
    _, got = public.get(f"/{chosen['orphan motivo']}")
    assert got["motivo_situacao_cadastral"] == 32 and got["descricao_motivo_situacao_cadastral"] is None
    assert got["municipio"] is not None
    _, got = private.get(f"/{chosen['orphan natureza']}")
    assert got["codigo_natureza_juridica"] in (2291, 3328, 8885) and got["natureza_juridica"] is None
    _, got = private.get(f"/{chosen['alphanumeric']}")
    assert (
        not got["cnpj"].isdigit()
        and got["codigo_municipio_ibge"]
        == ibge.by_siafi[
            parquet.rows("SELECT municipio FROM estabelecimentos WHERE cnpj = ?", [got["cnpj"]])[0]["municipio"]
        ]
    )


@pytest.mark.slow
def test_privacy_on_by_default_and_off_with_the_flag(served: tuple[Server, Server, Parquet, IbgeCodes]) -> None:
    private, public, parquet, _ = served
    cnpj = parquet.pick(
        "c.natureza_juridica = '2135' AND e.correio_eletronico IS NOT NULL AND e.telefone_1 IS NOT "
        "NULL AND e.logradouro IS NOT NULL"
    )
    (row,) = parquet.rows("SELECT * FROM estabelecimentos WHERE cnpj = ?", [cnpj])
    _, hidden = private.get(f"/{cnpj}")
    _, shown = public.get(f"/{cnpj}")
    assert hidden["email"] is None and shown["email"] == row["correio_eletronico"]
    for field in ("logradouro", "numero", "descricao_tipo_de_logradouro", "ddd_telefone_1", "cep"):
        assert hidden[field] == "", field
    assert shown["logradouro"] == row["logradouro"] and shown["ddd_telefone_1"] == row["ddd_1"] + row["telefone_1"]
    assert hidden["bairro"] == shown["bairro"] and hidden["municipio"] == shown["municipio"]
    with_cpf = parquet.pick("regexp_matches(e.nome_fantasia, ' [0-9]{11}$')")
    _, hidden = private.get(f"/{with_cpf}")
    _, shown = public.get(f"/{with_cpf}")
    assert shown["nome_fantasia"][-11:].isdigit() and hidden["nome_fantasia"] == shown["nome_fantasia"][:-12]
    company = parquet.pick(
        "c.natureza_juridica = '2062' AND e.correio_eletronico IS NOT NULL AND e.logradouro IS NOT NULL"
    )
    _, hidden = private.get(f"/{company}")
    assert hidden["email"] is None and hidden["logradouro"] != ""  # a company's address is not a person's


# --- search ---------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_pagination_visits_every_matching_establishment_once(served: tuple[Server, Server, Parquet, IbgeCodes]) -> None:
    server, _, parquet, _ = served
    want = parquet.cnpjs("uf = 'SP'")
    compact, pages = all_pages(server, "uf=SP&limit=97&compact")
    assert compact == want and pages == len(want) // 97 + 1
    full, _ = all_pages(server, "uf=sp&limit=1000")
    assert [item["cnpj"] for item in full] == want and all(item["uf"] == "SP" for item in full)
    everything, _ = all_pages(server, "limit=1000&compact=true")  # no filter: the whole table, each CNPJ once
    assert everything == parquet.cnpjs("true") and len(set(everything)) == len(everything)
    status, body = server.get(f"/?uf=SP&compact&cursor={want[-1]}")
    assert status == 200 and body == {"data": []}


@pytest.mark.slow
def test_every_search_filter_matches_the_parquet(served: tuple[Server, Server, Parquet, IbgeCodes]) -> None:
    server, _, parquet, ibge = served
    (municipio,) = (
        parquet.con.execute(
            "SELECT municipio FROM estabelecimentos GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        ).fetchone()
        or ()
    )
    (cnae,) = (
        parquet.con.execute(
            "SELECT c FROM (SELECT unnest(cnae_fiscal_secundaria) AS c FROM estabelecimentos) "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        ).fetchone()
        or ()
    )
    (main,) = (
        parquet.con.execute(
            "SELECT cnae_fiscal_principal FROM estabelecimentos GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        ).fetchone()
        or ()
    )
    (cpf,) = (
        parquet.con.execute(
            "SELECT cnpj_cpf_socio FROM socios WHERE identificador_socio = '2' ORDER BY 1 LIMIT 1"
        ).fetchone()
        or ()
    )
    (partner_cnpj,) = (
        parquet.con.execute(
            "SELECT cnpj_cpf_socio FROM socios WHERE identificador_socio = '1' ORDER BY 1 LIMIT 1"
        ).fetchone()
        or ()
    )
    cases = {
        "uf=SP&uf=rj": "uf IN ('SP', 'RJ')",
        "uf=sp,RJ": "uf IN ('SP', 'RJ')",
        f"municipio={int(municipio)}": f"municipio = '{municipio}'",
        f"municipio={ibge.by_siafi[municipio]}": f"municipio = '{municipio}'",
        f"cnae_fiscal={main}": f"cnae_fiscal_principal = '{main}'",
        f"cnae={cnae}": f"cnae_fiscal_principal = '{cnae}' OR list_contains(cnae_fiscal_secundaria, '{cnae}')",
        "natureza_juridica=2062,2135": "cnpj_basico IN (SELECT cnpj_basico FROM empresas WHERE natureza_juridica IN "
        "('2062', '2135'))",
        f"cnpf={cpf.replace('*', '%2A')}": f"cnpj_basico IN (SELECT cnpj_basico FROM socios WHERE cnpj_cpf_socio = "
        f"'{cpf}')",
        f"cnpf={format_cnpj(partner_cnpj)}": f"cnpj_basico IN (SELECT cnpj_basico FROM socios WHERE cnpj_cpf_socio "
        f"= '{partner_cnpj}')",
        f"uf=SP&cnae={cnae}": f"uf = 'SP' AND (cnae_fiscal_principal = '{cnae}' OR "
        f"list_contains(cnae_fiscal_secundaria, '{cnae}'))",
    }
    for query, where in cases.items():
        want = parquet.cnpjs(where)
        assert want, query
        got, _ = all_pages(server, f"{query}&compact&limit=100")
        assert got == want, query
    _, body = server.get(f"/?cnae={cnae}&limit=3")
    assert all(
        cnae in [f"{c['codigo']:07d}" for c in item["cnaes_secundarios"]] or item["cnae_fiscal"] == int(cnae)
        for item in body["data"]
    )


# --- bad input -------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_bad_input_is_a_400_with_a_message_never_a_500(served: tuple[Server, Server, Parquet, IbgeCodes]) -> None:
    server, _, parquet, _ = served
    bad = [
        "/" + "1" * 300,  # oversized path
        "/?uf=SP&cnae=" + "1" * 5000,  # oversized query string
        "/?uf=SP&color=blue",  # unknown parameter
        "/?uf=S%C3%83",  # non-ASCII value
        "/12.345.678%2F0001-9%C3%A9",  # non-ASCII CNPJ
        "/?uf=SP%27%20OR%20%271%27=%271",  # injection-looking values
        "/?natureza_juridica=2062)%20OR%201=1--",
        "/%27%3B%20DROP%20TABLE%20estabelecimentos%3B--",
        "/?cnpf=%27%20OR%20%27%27=%27",
        "/?uf=SP&limit=0",
        "/?uf=SP&limit=1001",
        "/?uf=SP&limit=ten",
        "/?uf=SP&limit=5&limit=6",
        "/?uf=SP&cursor=not-a-cnpj",
        "/?uf=",
        "/?uf=SP&municipio=12345",
        "/?uf=" + ",".join(["SP"] * 101),
        "/?uf=SP%00",
        "/1234%0A5678000195",
    ]
    for path in bad:
        status, headers, body = server.call("GET", path)
        assert status == 400, (path, body)
        assert headers["content-type"] == "application/json" and set(json.loads(body)) == {"message"}, path
    _, body = server.get("/?uf=SP&color=blue")
    assert "color" in body["message"] and "uf" in body["message"]
    _, _, public_body = served[1].call("GET", "/?municipio=3550308")  # an IBGE code without --ibge
    assert "--ibge" in json.loads(public_body)["message"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:  # raw bytes, not UTF-8
        raw.sendall(b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.recv(100).split(b" ")[1] == b"400"
    assert server.get("/healthz")[0] == 200  # and it still answers


@pytest.mark.slow
def test_one_json_log_line_per_request_without_personal_data(served: tuple[Server, Server, Parquet, IbgeCodes]) -> None:
    server, _, parquet, _ = served
    time.sleep(0.3)  # the line of a request is written just after its answer: let earlier tests' lines land
    before = len(server.log_lines())
    cnpj = parquet.pick("true")
    (cpf,) = (
        parquet.con.execute("SELECT cnpj_cpf_socio FROM socios WHERE identificador_socio = '2' LIMIT 1").fetchone()
        or ()
    )
    paths = [f"/{cnpj}", f"/{format_cnpj(cnpj)}", f"/?uf=SP&cnpf={cpf.replace('*', '%2A')}", "/updated", "/?x=1"]
    for path in paths:
        server.call("GET", path)
    time.sleep(0.2)
    lines = server.log_lines()[before:]
    requests = [line for line in lines if "method" in line]
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [
        ("GET", "/{cnpj}", 200),
        ("GET", "/{cnpj}", 200),
        ("GET", "/", 200),
        ("GET", "/updated", 200),
        ("GET", "/", 400),
    ]
    assert all(isinstance(r["ms"], float | int) and r["ms"] >= 0 for r in requests)
    assert requests[2]["params"] == ["cnpf", "uf"] and requests[4]["params"] == ["?"]
    text = server.log.read_text(encoding="utf-8")
    assert cnpj not in text and cpf[3:9] not in text and format_cnpj(cnpj) not in text


# --- the time limit ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_query_over_the_time_limit_is_interrupted(served: tuple[Server, Server, Parquet, IbgeCodes]) -> None:
    """Runner on the real serving database: the slow query is interrupted, its cursor goes back and works."""
    import asyncio

    server, _, _, _ = served
    (path,) = (server.log.parent / "data" / "serve").glob(f"{RELEASE}.*.duckdb")
    database = Database(path, RELEASE, "test", size=1, threads=1, memory_limit="256MB", lookup_tables=LOOKUP_TABLES)
    runner = Runner(threads=1, timeout=0.3)

    async def main() -> tuple[float, Any]:
        database.enter()
        started = time.monotonic()
        with pytest.raises(QueryTimeoutError):
            await runner.run(database, lambda c: c.execute("SELECT count(*) FROM range(10000000000000)").fetchall())
        took = time.monotonic() - started
        database.enter()
        return took, await runner.run(database, lambda c: c.execute("SELECT count(*) FROM estabelecimentos").fetchall())

    try:
        took, counted = asyncio.run(main())
    finally:
        runner.close()
        database.retire()
    assert took < 5 and counted[0][0] > 0 and database.closed


# --- following the data ------------------------------------------------------------------------------------------


def publish_changed_release(data: Path, source: str, target: str, prefix: str | None = None) -> None:
    """Publish release `target`: `source`'s partitions with every nome_fantasia and razao_social prefixed by the
    target month, through the store's publish (partition, then manifest), one table at a time."""
    store = Store(data)
    con = duckdb.connect()
    for table in RELEASE_TABLES:
        staged = data / ".staging" / f"{os.getpid()}-{table}"  # a live pid: no writer's recover removes it
        staged.mkdir(parents=True)
        manifest = store.manifest(table, source)
        assert manifest is not None
        for part in store.part_files(table, source):
            column = {"estabelecimentos": "nome_fantasia", "empresas": "razao_social"}.get(table)
            mark = prefix or target
            select = f"SELECT * REPLACE ('{mark} ' || coalesce({column}, '') AS {column})" if column else "SELECT *"
            con.execute(
                f"COPY ({select} FROM read_parquet('{part}', hive_partitioning = false)) "
                f"TO '{staged / part.name}' (FORMAT parquet)"
            )
        # What a build writes differs when the data does (its parts' sha256); a rebuild here says so too.
        store.publish(staged, table, target, {**manifest, "fingerprint": f"{manifest.get('fingerprint')}-{prefix}"})


@pytest.mark.slow
def test_a_release_published_while_requests_run(sample_build: Any, tmp_path: Path) -> None:
    """Requests keep succeeding while 2026-11 is published; each answer is wholly one release's; the follower
    switches, the pinned server does not."""
    _, source, _ = sample_build
    data = tmp_path / "data"
    shutil.copytree(source, data)
    parquet = Parquet(data)
    cnpjs = [parquet.pick("c.natureza_juridica = '2062'"), parquet.pick("regexp_matches(e.cnpj, '[A-Z]')")]
    follower = start_server(data)
    pinned = start_server(data, "--release", RELEASE)
    answers: list[tuple[str, int, str, dict[str, Any]]] = []
    stop = threading.Event()

    def ask(server: Server, name: str) -> None:
        n = 0
        while not stop.is_set() and n < 5000:  # bounded in count as well as time
            cnpj = cnpjs[n % 2]
            status, headers, body = server.call("GET", f"/{cnpj}" if n % 3 else f"/?uf=SP&limit=3&cursor={cnpj}")
            answers.append((name, status, headers.get("x-cnpj-duck-release", ""), json.loads(body)))
            n += 1

    threads = [
        threading.Thread(target=ask, args=(s, name))
        for s, name in ((follower, "follower"), (follower, "follower"), (pinned, "pinned"))
    ]
    try:
        for thread in threads:
            thread.start()
        time.sleep(1)
        publish_changed_release(data, RELEASE, "2026-11")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and follower.get("/updated")[1]["release"] != "2026-11":
            time.sleep(0.2)
        count = len(answers)
        while len(answers) < count + 60 and time.monotonic() < deadline:  # more answers after the switch
            time.sleep(0.1)
        stop.set()
        for thread in threads:
            thread.join()
        follower_updated = follower.get("/updated")[1]
        pinned_updated = pinned.get("/updated")[1]
        # The served month rebuilt in place (`build --force`): a new file (a new name), then the new data.
        publish_changed_release(data, RELEASE, "2026-11", prefix="REBUILT")
        rebuilt = ""
        while time.monotonic() < deadline + 60 and not rebuilt.startswith("REBUILT"):
            time.sleep(0.2)
            rebuilt = follower.get(f"/{cnpjs[0]}")[1]["razao_social"]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        follower.stop()
        pinned.stop()
    assert follower_updated["release"] == "2026-11" and pinned_updated["release"] == RELEASE
    assert rebuilt.startswith("REBUILT ")
    assert answers and all(status == 200 for _, status, _, _ in answers), [a for a in answers if a[1] != 200][:3]
    seen = {(name, release) for name, _, release, _ in answers}
    assert seen == {("follower", RELEASE), ("follower", "2026-11"), ("pinned", RELEASE)}
    for _, _, release, body in answers:
        for item in body["data"] if "data" in body else [body]:
            new = release == "2026-11"
            # Establishment and company come from one release: both prefixed, or neither.
            assert item["nome_fantasia"].startswith("2026-11") == new, item["cnpj"]
            assert not item["razao_social"] or item["razao_social"].startswith("2026-11") == new, item["cnpj"]
    # The old release's file went when its last request finished (the pinned server still has it open).
    assert not list((data / "serve").glob(f"{RELEASE}.*.duckdb")) and len(list((data / "serve").glob("2026-11.*"))) == 1
    events = [line["event"] for line in follower.log_lines() if "event" in line]
    assert events.count("release_switched") == 2
    assert "release_building" in events


# --- units: the request checks, privacy, the IBGE table, the command ------------------------------------------------


def test_search_parameters_are_checked_and_normalized() -> None:
    codes = IbgeCodes({"7107": 3550308}, {3550308: "7107"})
    query = parse_search(
        [
            ("uf", "sp, rj"),
            ("uf", "MG"),
            ("municipio", "7107,3550308,12"),
            ("cnae", "47.51-2-01"),
            ("natureza_juridica", "206-2"),
            ("cnpf", "123.456.789-01"),
            ("cnpf", "***456789**"),
            ("limit", "10"),
            ("compact", ""),
        ],
        codes,
    )
    assert query.uf == ("SP", "RJ", "MG") and query.municipio == ("7107", "7107", "0012")
    assert query.cnae == ("4751201",) and query.natureza_juridica == ("2062",) and query.limit == 10
    assert query.cnpf == ("***456789**", "***456789**") and query.compact and query.cursor is None
    for items in (
        [("uf", "São")],
        [("limit", "1001")],
        [("cursor", "x")],
        [("nome", "x")],
        [("cnae", "12345678")],
        [("municipio", "3550308")],
    ):
        with pytest.raises(BadRequestError):
            parse_search(items, IbgeCodes())


def test_privacy_rules() -> None:
    assert privacy.strip_cpf("JOAO DA SILVA 12345678901") == "JOAO DA SILVA"
    assert privacy.strip_cpf("123.456.789-01 LANCHES") == "LANCHES"
    assert privacy.strip_cpf("LOJA 12345678000195") == "LOJA 12345678000195"  # 14 digits: a CNPJ, kept
    row = {"nome_fantasia": "X 12345678901", "correio_eletronico": "a@b.c", "logradouro": "RUA A", "bairro": "B"}
    assert privacy.apply(row, "2135") == {
        "nome_fantasia": "X",
        "correio_eletronico": None,
        "logradouro": None,
        "bairro": "B",
    }
    assert privacy.apply(row, "2062")["logradouro"] == "RUA A"
    assert privacy.apply(row, "2062", opcao_mei=True)["logradouro"] is None


def test_ibge_table_reads_the_tesouro_layout_and_names_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "tabmun.csv"
    path.write_bytes(
        "CÓDIGO SIAFI;CNPJ;DESCRIÇÃO;UF;CÓDIGO IBGE\n7107;46395000000139;SÃO PAULO;SP;3550308\n"
        '"0001";;GUAJARÁ-MIRIM;RO;1100106\n'.encode("latin-1")
    )
    codes = load_ibge(path)
    assert codes.by_siafi == {"7107": 3550308, "0001": 1100106} and codes.by_ibge[3550308] == "7107"
    path.write_text("7107;x;SAO PAULO;SP;3550308\n12;x;Y;SP\n", encoding="utf-8")
    with pytest.raises(Exception, match="line 2: expected 5 fields"):
        load_ibge(path)


def test_serve_command_errors_are_one_line(
    sample_build: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, data_dir, _ = sample_build
    code, _, err = cli_run(capsys, "--data-dir", str(data_dir), "serve", "--release", "2025-01")
    assert code == 2 and err.startswith("error: --release 2025-01: ") and len(err.splitlines()) == 1
    code, _, err = cli_run(capsys, "--data-dir", str(data_dir), "serve", "--ibge", str(tmp_path / "none.csv"))
    assert code == 2 and "none.csv: cannot read the SIAFI-to-IBGE table" in err
    code, out, _ = cli_run(capsys, "serve", "--help")
    assert code == 0 and "--no-privacy" in out and "--release" in out
    config = load_config(None, overrides={"data_dir": str(data_dir)}, env={"CNPJ_DUCK_SERVE_PRIVACY": "off"})
    assert config.serve_privacy is False
