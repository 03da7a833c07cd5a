"""What the Receita Federal CNPJ release looks like: families, columns, and file names.

Everything that knows the release's shape lives here (see ../shared/RFB_FORMAT.md §2 and §4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Family:
    """One kind of file in the release (a split family like empresas, or a single lookup)."""

    name: str
    columns: tuple[str, ...]
    tag: str  # the member-name tag of the real release (EMPRECSV, ESTABELE, ...)
    zip_stem: str  # the 2022+ zip name without index and extension (Empresas, Cnaes, ...)
    split: bool  # True for the families published as files 0..9

    @property
    def file_count(self) -> int:
        return 10 if self.split else 1

    def zip_name(self, index: int | None = None) -> str:
        """The current (2022+) zip name of file `index` of this family."""
        return f"{self.zip_stem}{index if self.split else ''}.zip"

    def member_name(self, extracted: str, index: int | None = None) -> str:
        """The real member name, for an extraction date tag like 'D61011'."""
        if self.split:
            return f"K3241.K03200Y{index}.{extracted}.{self.tag}"
        if self.name == "simples":
            return f"F.K03200$W.SIMPLES.CSV.{extracted}"
        return f"F.K03200$Z.{extracted}.{self.tag}"


_LOOKUP = ("codigo", "descricao")

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "empresas",
            (
                "cnpj_basico",
                "razao_social",
                "natureza_juridica",
                "qualificacao_responsavel",
                "capital_social",
                "porte_empresa",
                "ente_federativo_responsavel",
            ),
            "EMPRECSV",
            "Empresas",
            True,
        ),
        Family(
            "estabelecimentos",
            (
                "cnpj_basico",
                "cnpj_ordem",
                "cnpj_dv",
                "identificador_matriz_filial",
                "nome_fantasia",
                "situacao_cadastral",
                "data_situacao_cadastral",
                "motivo_situacao_cadastral",
                "nome_cidade_exterior",
                "pais",
                "data_inicio_atividade",
                "cnae_fiscal_principal",
                "cnae_fiscal_secundaria",
                "tipo_logradouro",
                "logradouro",
                "numero",
                "complemento",
                "bairro",
                "cep",
                "uf",
                "municipio",
                "ddd_1",
                "telefone_1",
                "ddd_2",
                "telefone_2",
                "ddd_fax",
                "fax",
                "correio_eletronico",
                "situacao_especial",
                "data_situacao_especial",
            ),
            "ESTABELE",
            "Estabelecimentos",
            True,
        ),
        Family(
            "socios",
            (
                "cnpj_basico",
                "identificador_socio",
                "nome_socio_razao_social",
                "cnpj_cpf_socio",
                "qualificacao_socio",
                "data_entrada_sociedade",
                "pais",
                "representante_legal",
                "nome_representante",
                "qualificacao_representante_legal",
                "faixa_etaria",
            ),
            "SOCIOCSV",
            "Socios",
            True,
        ),
        Family(
            "simples",
            (
                "cnpj_basico",
                "opcao_simples",
                "data_opcao_simples",
                "data_exclusao_simples",
                "opcao_mei",
                "data_opcao_mei",
                "data_exclusao_mei",
            ),
            "SIMPLES",
            "Simples",
            False,
        ),
        Family("cnaes", _LOOKUP, "CNAECSV", "Cnaes", False),
        Family("motivos", _LOOKUP, "MOTICSV", "Motivos", False),
        Family("municipios", _LOOKUP, "MUNICCSV", "Municipios", False),
        Family("naturezas", _LOOKUP, "NATJUCSV", "Naturezas", False),
        Family("paises", _LOOKUP, "PAISCSV", "Paises", False),
        Family("qualificacoes", _LOOKUP, "QUALSCSV", "Qualificacoes", False),
    )
}

EXPECTED_FILE_COUNT = sum(f.file_count for f in FAMILIES.values())  # 37

_BY_TAG = {f.tag: f for f in FAMILIES.values()}
_BY_STEM = {f.zip_stem.lower(): f for f in FAMILIES.values()}

# 2021 names and real member names: K3241.K03200Y0.D40511.EMPRECSV, F.K03200$W.SIMPLES.CSV.D40511,
# F.K03200$Z.D40511.CNAECSV, each optionally with .zip (the 2021 zips were named like their member).
_SPLIT_RE = re.compile(r"^K\d+\.K\d+Y(?P<index>\d)\.D\d{5}\.(?P<tag>EMPRECSV|ESTABELE|SOCIOCSV)(\.ZIP)?$")
_SIMPLES_RE = re.compile(r"^F\.K\d+\$W\.SIMPLES\.CSV\.D\d{5}(\.ZIP)?$")
_LOOKUP_RE = re.compile(r"^F\.K\d+\$Z\.D\d{5}\.(?P<tag>CNAECSV|MOTICSV|MUNICCSV|NATJUCSV|PAISCSV|QUALSCSV)(\.ZIP)?$")
# 2022+ zips (Empresas0.zip) and the members some mirrors use (Empresas0, Empresas0.csv).
_STEM_RE = re.compile(r"^(?P<stem>[a-z]+?)(?P<index>\d)?(\.csv)?(\.zip)?$")
_RELEASE_RE = re.compile(r"(?<!\d)(?P<year>20\d\d)-(?P<month>0[1-9]|1[0-2])(?!\d)")


@dataclass(frozen=True)
class Recognised:
    """A file or member name matched to its family and its index in the split (0 for single files)."""

    family: Family
    index: int


def recognise(name: str) -> Recognised | None:
    """Match a zip or member name, of either naming generation, case-insensitively."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    upper = base.upper()
    if m := _SPLIT_RE.match(upper):
        return Recognised(_BY_TAG[m["tag"]], int(m["index"]))
    if _SIMPLES_RE.match(upper):
        return Recognised(FAMILIES["simples"], 0)
    if m := _LOOKUP_RE.match(upper):
        return Recognised(_BY_TAG[m["tag"]], 0)
    if m := _STEM_RE.match(base.lower()):
        family = _BY_STEM.get(m["stem"])
        if family is None:
            return None
        index = m["index"]
        if family.split and index is not None:
            return Recognised(family, int(index))
        if not family.split and index is None:
            return Recognised(family, 0)
    return None


def is_junk_member(name: str) -> bool:
    """Members that are not data: macOS resource forks, folders, dot files."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return name.endswith("/") or name.startswith("__MACOSX/") or "/__MACOSX/" in name or base.startswith(".")


def release_from_text(text: str) -> str | None:
    """The YYYY-MM month named in a folder name or path, if any."""
    matches = list(_RELEASE_RE.finditer(text))
    if not matches:
        return None
    m = matches[-1]
    return f"{m['year']}-{m['month']}"


def extraction_tag(release: str) -> str:
    """The member-name date tag the Receita would use for a release month (D + one-digit year + MMDD)."""
    year, month = release.split("-")
    return f"D{year[-1]}{month}11"


def is_valid_release(text: str) -> bool:
    m = _RELEASE_RE.fullmatch(text)
    return m is not None


def list_zip_paths(folder: Path) -> tuple[list[Path], list[Path]]:
    """The zips of a release folder, and every other file in it (reported, never silently ignored)."""
    zips: list[Path] = []
    others: list[Path] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue  # our own .part files and hidden files
        if path.is_file() and path.suffix.lower() == ".zip":
            zips.append(path)
        else:
            others.append(path)
    return zips, others
