"""The JSON object of one establishment, shaped as the public lookup API answers it (shared/API_COMPAT.md).

Codes are ints (the release writes them as zero-padded text), dates ISO strings, absent text "" and absent
dates and codes null; a code with no description in its lookup table keeps its code with a null description.
Privacy (cnpj_duck/privacy.py) is applied to the establishment's row before it is shaped.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from .. import privacy
from ..ibge import IbgeCodes
from ..tables import DOMAINS
from .pool import Descriptions
from .queries import Related, Row

# The API's words for the layout's fixed codes, where they differ from tables.DOMAINS (accents, phrasing).
PORTE = {"00": "NÃO INFORMADO", "01": "MICRO EMPRESA", "03": "EMPRESA DE PEQUENO PORTE", "05": "DEMAIS"}
FAIXA_ETARIA = {
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


def code(value: str | None) -> int | None:
    """A code as an int (the release's text keeps leading zeros); None when absent or not digits."""
    text = (value or "").strip()
    return int(text) if text.isdigit() and text.isascii() else None


def text(value: str | None) -> str:
    return value if value is not None else ""


def day(value: date | str | None) -> str | None:
    """A date as ISO text (the company rows arrive as JSON, their dates already ISO text)."""
    return value if value is None or isinstance(value, str) else value.isoformat()


def phone(ddd: str | None, number: str | None) -> str:
    """DDD and number joined; "" when the number is absent (the release fills with 0)."""
    digits = (number or "").strip()
    if not digits or not digits.strip("0"):
        return ""
    return f"{(ddd or '').strip()}{digits}"


def money(value: Decimal | float | None) -> float | None:
    return float(value) if value is not None else None


class Shaper:
    """Turns the rows of a serving database into the API's objects, with its lookups, IBGE codes and privacy."""

    def __init__(self, descriptions: Descriptions, ibge: IbgeCodes, private: bool) -> None:
        self.describe = descriptions.of
        self.ibge = ibge
        self.private = private

    def establishment(self, row: Row, related: Related) -> dict[str, Any]:
        """The full object of one establishment row, with its company, Simples option, partners and CNAEs."""
        root = row["cnpj_basico"]
        empresa = next(iter(related.empresas.get(root, ())), None) or {}
        simples = next(iter(related.simples.get(root, ())), None) or {}
        if self.private:
            row = privacy.apply(row, empresa.get("natureza_juridica"), simples.get("opcao_mei"))
        out = self._establishment(row)
        out.update(self._simples(simples))
        out.update(self._company(empresa))
        out["qsa"] = [self._partner(p) for p in related.socios.get(root, ())]
        out["cnaes_secundarios"] = [
            {"codigo": code(c), "descricao": self.describe("cnaes", c)} for c in row.get("cnae_fiscal_secundaria") or ()
        ]
        return out

    def _establishment(self, e: Row) -> dict[str, Any]:
        return {
            "cnpj": e["cnpj"],
            "identificador_matriz_filial": code(e["identificador_matriz_filial"]),
            "descricao_identificador_matriz_filial": DOMAINS["identificador_matriz_filial"].get(
                e["identificador_matriz_filial"]
            ),
            "nome_fantasia": text(e["nome_fantasia"]),
            "situacao_cadastral": code(e["situacao_cadastral"]),
            "descricao_situacao_cadastral": DOMAINS["situacao_cadastral"].get(e["situacao_cadastral"]),
            "data_situacao_cadastral": day(e["data_situacao_cadastral"]),
            "motivo_situacao_cadastral": code(e["motivo_situacao_cadastral"]),
            "descricao_motivo_situacao_cadastral": self.describe("motivos", e["motivo_situacao_cadastral"]),
            "nome_cidade_no_exterior": text(e["nome_cidade_exterior"]),
            "codigo_pais": code(e["pais"]),
            "pais": self.describe("paises", e["pais"]),
            "data_inicio_atividade": day(e["data_inicio_atividade"]),
            "cnae_fiscal": code(e["cnae_fiscal_principal"]),
            "cnae_fiscal_descricao": self.describe("cnaes", e["cnae_fiscal_principal"]),
            "descricao_tipo_de_logradouro": text(e["tipo_logradouro"]),
            "logradouro": text(e["logradouro"]),
            "numero": text(e["numero"]),
            "complemento": text(e["complemento"]),
            "bairro": text(e["bairro"]),
            "cep": text(e["cep"]),
            "uf": text(e["uf"]),
            "codigo_municipio": code(e["municipio"]),
            "codigo_municipio_ibge": self.ibge.ibge(e["municipio"]),
            "municipio": self.describe("municipios", e["municipio"]),
            "ddd_telefone_1": phone(e["ddd_1"], e["telefone_1"]),
            "ddd_telefone_2": phone(e["ddd_2"], e["telefone_2"]),
            "ddd_fax": phone(e["ddd_fax"], e["fax"]),
            "email": e["correio_eletronico"],
            "situacao_especial": text(e["situacao_especial"]),
            "data_situacao_especial": day(e["data_situacao_especial"]),
        }

    @staticmethod
    def _simples(s: Row) -> dict[str, Any]:
        return {
            "opcao_pelo_simples": s.get("opcao_simples"),
            "data_opcao_pelo_simples": day(s.get("data_opcao_simples")),
            "data_exclusao_do_simples": day(s.get("data_exclusao_simples")),
            "opcao_pelo_mei": s.get("opcao_mei"),
            "data_opcao_pelo_mei": day(s.get("data_opcao_mei")),
            "data_exclusao_do_mei": day(s.get("data_exclusao_mei")),
        }

    def _company(self, c: Row) -> dict[str, Any]:
        return {
            "razao_social": text(c.get("razao_social")),
            "codigo_natureza_juridica": code(c.get("natureza_juridica")),
            "natureza_juridica": self.describe("naturezas", c.get("natureza_juridica")),
            "qualificacao_do_responsavel": code(c.get("qualificacao_responsavel")),
            "capital_social": money(c.get("capital_social")),
            "codigo_porte": code(c.get("porte_empresa")),
            "porte": PORTE.get(c.get("porte_empresa") or ""),
            "ente_federativo_responsavel": text(c.get("ente_federativo_responsavel")),
            "regime_tributario": None,  # the Receita no longer ships it in the monthly release
        }

    def _partner(self, p: Row) -> dict[str, Any]:
        return {
            "identificador_de_socio": code(p["identificador_socio"]),
            "nome_socio": text(p["nome_socio_razao_social"]),
            "cnpj_cpf_do_socio": text(p["cnpj_cpf_socio"]),
            "codigo_qualificacao_socio": code(p["qualificacao_socio"]),
            "qualificacao_socio": self.describe("qualificacoes", p["qualificacao_socio"]),
            "data_entrada_sociedade": day(p["data_entrada_sociedade"]),
            "codigo_pais": code(p["pais"]),
            "pais": self.describe("paises", p["pais"]),
            "cpf_representante_legal": text(p["representante_legal"]),
            "nome_representante_legal": text(p["nome_representante"]),
            "codigo_qualificacao_representante_legal": code(p["qualificacao_representante_legal"]),
            "qualificacao_representante_legal": self.describe("qualificacoes", p["qualificacao_representante_legal"]),
            "codigo_faixa_etaria": code(p["faixa_etaria"]),
            "faixa_etaria": FAIXA_ETARIA.get(p["faixa_etaria"] or ""),
        }
