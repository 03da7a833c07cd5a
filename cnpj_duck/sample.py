"""Generate a faithful, deterministic sample of a Receita Federal CNPJ release (see ../shared/RFB_FORMAT.md).

Every file is built alone from (release, scale, seed, family, index): company i always has the same
cnpj_basico and the same number of establishments, partners and Simples rows, so the files agree on keys
whichever process writes them. The quirks of RFB_FORMAT.md §3 and §5 appear at realistic rates, and each is
also forced near the start of file 0 so that even a tiny sample has all of them; the manifest says where.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import zipfile
from bisect import bisect
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from operator import mul
from pathlib import Path

from cnpj_duck.cnpj import check_digits as cnpj_check_digits  # the rule lookups check: one copy
from cnpj_duck.layout import FAMILIES, extraction_tag, is_valid_release

# Rows of the real release at scale 1 (§1). Empresas is scaled directly; the other big families follow from
# per-company counts whose means give these ratios. Lookups are always written at their real sizes.
REAL_ROWS = {"empresas": 57_600_000, "estabelecimentos": 66_000_000, "socios": 24_000_000, "simples": 39_000_000}
LOOKUP_SIZES = {"cnaes": 1359, "motivos": 62, "municipios": 5571, "naturezas": 90, "paises": 255, "qualificacoes": 68}
# Codes the data uses that its lookup lacks (§5: joins must be LEFT joins). Motivo 32 is the real one.
ORPHAN_CODES = {"motivos": ("32",), "naturezas": ("2291", "3328", "8885"), "paises": ("362", "998"),
                "qualificacoes": ("07", "36")}
MALFORMED_KINDS = ("extra_field", "missing_field", "unterminated_quote")

_FILE0_WEIGHT = 3.8  # file 0 of a split family holds ~3.8x the rows of each of files 1-9 (§1)
_SHOWCASE = 48  # companies 0..47 (start of file 0) have one row per family and carry the forced quirks
_MIN_FILE0, _MIN_FILE = 64, 6
_DEFLATE_LEVEL = 1  # ~150 MB/s with stdlib zlib, and a ratio near the real files' (about 3x)
_CHUNK_RECORDS = 4096
_C1_BYTES = "\x8f\x81\x90\x9d\x96\x93\x94"  # 0x8F was seen in a 2026-06 file (§3): valid latin-1, not cp1252
_ALNUM_FROM, _ALNUM_SHARE_PER_MONTH = "2026-07", 0.005  # alphanumeric CNPJs are issued from July 2026 (§5)
_BLANK_LAST_LINE_SHARE = 0.3


@dataclass(frozen=True)
class FileStats:
    """What was written to one zip."""

    zip_name: str
    member_name: str
    family: str
    index: int
    records: int  # logical records, malformed ones and repeated rows included
    malformed: int
    physical_lines: int  # LF-terminated lines, the blank last line included
    uncompressed_bytes: int
    zipped_bytes: int  # size of the zip file


@dataclass(frozen=True)
class MalformedRecord:
    """A record a strict parser must reject: a field too many or too few, or a last quote never closed."""

    zip_name: str
    member_name: str
    family: str
    line: int  # 1-based physical line where the record starts
    kind: str  # one of MALFORMED_KINDS
    text: str  # the raw record, decoded latin-1, without its final newline


@dataclass(frozen=True)
class QuirkRecord:
    """One deliberate quirk: the row that has it (line and raw key columns) and the raw value that shows it."""

    family: str
    zip_name: str
    line: int
    kind: str
    key: dict[str, str]
    column: str
    raw: str


@dataclass(frozen=True)
class SampleManifest:
    """Everything a test needs to check a build exactly."""

    release: str
    scale: float
    seed: int
    folder: Path
    files: tuple[FileStats, ...]
    malformed: tuple[MalformedRecord, ...]
    quirks: tuple[QuirkRecord, ...]

    def expected_rows(self, family: str) -> int:
        """Rows a parser keeps for a family if it rejects exactly the malformed records."""
        return sum(f.records - f.malformed for f in self.files if f.family == family)


# ---------------------------------------------------------------------------------------------------------
# Companies: who exists, and how many rows each one has in each family.


@dataclass(frozen=True)
class _Kind:
    natureza: str
    share: float
    qualificacao: str  # qualificacao_responsavel
    style: str  # how the razao_social is built
    partners: float  # share of companies of this kind with socios
    simples: float  # share of companies of this kind in the Simples file


# Shares chosen so that estabelecimentos/empresas ~ 66/57.6, socios ~ 24/57.6 and simples ~ 39/57.6 (§1).
_KINDS = (
    _Kind("2135", 0.500, "50", "person", 0.0, 0.90),  # empresario individual: the razao ends with the CPF (§5)
    _Kind("2062", 0.310, "49", "ltda", 0.55, 0.62),
    _Kind("2305", 0.030, "65", "eireli", 0.50, 0.60),
    _Kind("2240", 0.020, "49", "ltda", 0.50, 0.50),
    _Kind("2232", 0.005, "49", "ltda", 0.50, 0.40),
    _Kind("2054", 0.010, "10", "sa", 0.40, 0.0),
    _Kind("2046", 0.001, "10", "sa", 0.50, 0.0),
    _Kind("2011", 0.0005, "16", "sa", 0.30, 0.0),
    _Kind("2143", 0.004, "16", "coop", 0.60, 0.0),
    _Kind("3999", 0.060, "16", "association", 0.20, 0.03),
    _Kind("3220", 0.020, "16", "religious", 0.10, 0.0),
    _Kind("3069", 0.002, "16", "association", 0.30, 0.0),
    _Kind("4090", 0.020, "51", "candidate", 0.0, 0.0),
    _Kind("1031", 0.006, "05", "municipal", 0.0, 0.0),
    _Kind("1244", 0.001, "05", "municipal", 0.0, 0.0),
    _Kind("1023", 0.002, "05", "state", 0.0, 0.0),
    _Kind("1015", 0.0015, "05", "federal", 0.0, 0.0),
)
_KIND_CUM = tuple(sum(k.share for k in _KINDS[: n + 1]) / sum(k.share for k in _KINDS) for n in range(len(_KINDS)))
_LTDA = 1  # index of 2062 in _KINDS
_ESTAB_CUM, _ESTAB_N = (0.92, 0.975, 0.99, 0.997, 0.9996, 1.0), (1, 2, 3, 5, 9, 25)
_SOCIO_CUM, _SOCIO_N = (0.5, 0.83, 0.93, 0.97, 0.99, 1.0), (1, 2, 3, 4, 6, 12)
_M64 = (1 << 64) - 1
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _mix(x: int) -> int:
    """splitmix64: a cheap, well-spread hash, so company i's profile needs no shared state."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


@dataclass(frozen=True)
class _Plan:
    seed: int
    salt: int
    starts: tuple[int, ...]  # the companies of split file k are range(starts[k], starts[k + 1])
    alnum_start: int  # companies from here on are the newest, with alphanumeric CNPJs

    @property
    def total(self) -> int:
        return self.starts[-1]

    def companies(self, family: str, index: int) -> range:
        return range(self.starts[index], self.starts[index + 1]) if FAMILIES[family].split else range(self.total)


def _plan(release: str, scale: float, seed: int) -> _Plan:
    per_file = REAL_ROWS["empresas"] * scale / (_FILE0_WEIGHT + 9)
    starts = [0, max(_MIN_FILE0, round(per_file * _FILE0_WEIGHT))]
    for _ in range(9):
        starts.append(starts[-1] + max(_MIN_FILE, round(per_file)))
    year, month = (int(x) for x in release.split("-"))
    share = min(0.2, ((year - 2026) * 12 + month - 6) * _ALNUM_SHARE_PER_MONTH)
    n_alnum = 0 if release < _ALNUM_FROM else max(2, round(starts[-1] * share))
    return _Plan(seed, _mix(seed), tuple(starts), starts[-1] - n_alnum)


def _basico(plan: _Plan, i: int) -> str:
    """Company i's cnpj_basico: an affine bijection mod 10^8, or alphanumeric for the newest companies."""
    if i < plan.alnum_start:
        return f"{(38_265_137 * i + 7_919_993 * plan.seed + 11_223_344) % 100_000_000:08d}"
    # Two digits, a letter, five [0-9A-Z]: the letter keeps it apart from every numeric basico.
    x = (2_654_435_761 * (i - plan.alnum_start) + 7_777 * plan.seed + 987_654_321) % (100 * 26 * 36**5)  # coprime
    tail = "".join(_B36[x // 36**p % 36] for p in range(4, -1, -1))
    return f"{x // (26 * 36**5):02d}{_B36[10 + x // 36**5 % 26]}{tail}"


def _company(plan: _Plan, i: int) -> tuple[str, int, int, int, bool]:
    """(cnpj_basico, kind index, establishments, partners, in Simples) of company i."""
    # Showcase rows; the first company of each file, so that no file is empty; the newest company, whose
    # filial shows an alphanumeric ordem.
    if i < _SHOWCASE or i in plan.starts or i == plan.total - 1:
        return _basico(plan, i), _LTDA, 2 if i == plan.total - 1 else 1, 1, True
    h = _mix(i ^ plan.salt)
    kind = bisect(_KIND_CUM, (h & 0xFFFF) / 65536)
    partners = _KINDS[kind].partners
    u = (h >> 32 & 0xFFFF) / 65536
    return (_basico(plan, i), kind, _ESTAB_N[bisect(_ESTAB_CUM, (h >> 16 & 0xFFFF) / 65536)],
            _SOCIO_N[bisect(_SOCIO_CUM, u / partners)] if u < partners else 0,
            (h >> 48) / 65536 < _KINDS[kind].simples)


def _cpf(rng: random.Random) -> str:
    """An 11-digit CPF with valid check digits."""
    digits = [int(rng.random() * 10) for _ in range(9)]
    for n in (10, 11):
        r = sum(map(mul, range(n, 1, -1), digits)) * 10 % 11
        digits.append(0 if r == 10 else r)
    return "".join(map(str, digits))


def _ordem(n: int, alnum: bool) -> str:
    """cnpj_ordem of a company's n-th establishment (0 = matriz); new companies get [0-9A-Z] ordens."""
    if n == 0:
        return "0001"
    return f"A{_B36[n // 1296 % 36]}{_B36[n // 36 % 36]}{_B36[n % 36]}" if alnum else f"{n + 1:04d}"


def _full_cnpj(plan: _Plan, i: int) -> str:
    basico = _basico(plan, i)
    return f"{basico}0001{cnpj_check_digits(basico + '0001')}"


def _masked_cpf(rnd: Callable[[], float]) -> str:
    return f"***{int(rnd() * 1_000_000):06d}**"  # the middle six digits: NOT unique (§5)


# ---------------------------------------------------------------------------------------------------------
# Words. Everything below is invented from these lists, apart from the few values shown in RFB_FORMAT.md
# and in the real samples.

_UFS = (  # IBGE order (Receita municipio codes come in blocks per state): uf, name, towns, share, CEPs, DDDs
    ("RO", "RONDONIA", 52, 0.007, "76", "69"), ("AC", "ACRE", 22, 0.002, "69", "68"),
    ("AM", "AMAZONAS", 62, 0.012, "69", "92 97"), ("RR", "RORAIMA", 15, 0.002, "69", "95"),
    ("PA", "PARA", 144, 0.02, "66 67 68", "91 93 94"), ("AP", "AMAPA", 16, 0.002, "68", "96"),
    ("TO", "TOCANTINS", 139, 0.006, "77", "63"), ("MA", "MARANHAO", 217, 0.015, "65", "98 99"),
    ("PI", "PIAUI", 224, 0.009, "64", "86 89"), ("CE", "CEARA", 184, 0.03, "60 61 62 63", "85 88"),
    ("RN", "RIO GRANDE DO NORTE", 167, 0.011, "59", "84"), ("PB", "PARAIBA", 223, 0.012, "58", "83"),
    ("PE", "PERNAMBUCO", 185, 0.03, "50 51 52 53 54 55 56", "81 87"), ("AL", "ALAGOAS", 102, 0.009, "57", "82"),
    ("SE", "SERGIPE", 75, 0.007, "49", "79"), ("BA", "BAHIA", 417, 0.05, "40 41 42 44 45 46 47 48", "71 73 74 75 77"),
    ("MG", "MINAS GERAIS", 853, 0.11, "30 31 32 35 36 37 38 39", "31 32 33 34 35 37 38"),
    ("ES", "ESPIRITO SANTO", 78, 0.02, "29", "27 28"),
    ("RJ", "RIO DE JANEIRO", 92, 0.08, "20 21 22 23 24 26 28", "21 22 24"),
    ("SP", "SAO PAULO", 645, 0.29, "01 02 03 04 05 08 09 11 12 13 14 15 17 18 19", "11 12 13 14 15 16 17 18 19"),
    ("PR", "PARANA", 399, 0.07, "80 81 83 84 85 86 87", "41 42 43 44 45 46"),
    ("SC", "SANTA CATARINA", 295, 0.05, "88 89", "47 48 49"),
    ("RS", "RIO GRANDE DO SUL", 497, 0.07, "90 91 92 93 95 96 99", "51 53 54 55"),
    ("MS", "MATO GROSSO DO SUL", 79, 0.013, "79", "67"), ("MT", "MATO GROSSO", 141, 0.018, "78", "65 66"),
    ("GO", "GOIAS", 246, 0.035, "72 74 75 76", "62 64"), ("DF", "DISTRITO FEDERAL", 1, 0.025, "70 71 72 73", "61"),
)
_MALE = ("JOSE JOAO ANTONIO FRANCISCO CARLOS PAULO PEDRO LUCAS LUIZ MARCOS LUIS GABRIEL RAFAEL DANIEL MARCELO BRUNO "
         "EDUARDO FELIPE RAIMUNDO RODRIGO MANOEL MATEUS ANDRE FERNANDO FABIO LEONARDO GUSTAVO GUILHERME LEANDRO "
         "TIAGO ANDERSON RICARDO MARCIO JORGE SEBASTIAO ALEXANDRE ROBERTO EDSON DIEGO VITOR SERGIO JOÃO").split()
_FEMALE = ("MARIA ANA FRANCISCA ANTONIA ADRIANA JULIANA MARCIA FERNANDA PATRICIA ALINE SANDRA CAMILA AMANDA BRUNA "
           "JESSICA LETICIA JULIA LUCIANA VANESSA MARIANA GABRIELA VERA VITORIA LARISSA CLAUDIA BEATRIZ RITA LUANA "
           "SONIA RENATA ELIANE JOSEFA RAIMUNDA TEREZINHA SIMONE DEBORA CRISTIANE DANIELA MÔNICA LÚCIA").split()
_SURNAMES = ("SILVA SANTOS OLIVEIRA SOUZA RODRIGUES FERREIRA ALVES PEREIRA LIMA GOMES COSTA RIBEIRO MARTINS CARVALHO "
             "ALMEIDA LOPES SOARES FERNANDES VIEIRA BARBOSA ROCHA DIAS NASCIMENTO ANDRADE MOREIRA NUNES MARQUES "
             "MACHADO MENDES FREITAS CARDOSO RAMOS GONCALVES SANTANA TEIXEIRA ARAUJO PINTO CAVALCANTI MELO BATISTA "
             "CORREIA MONTEIRO FARIAS CAMPOS BEZERRA MOURA REIS CUNHA BRITO SALES AZEVEDO MIRANDA QUEIROZ PIRES BORGES "
             "GONÇALVES ARAÚJO").split()
_LINKED = ("DA SILVA", "DOS SANTOS", "DE OLIVEIRA", "DE SOUZA", "DA COSTA", "DE JESUS", "DO NASCIMENTO", "DAS NEVES",
           "DE LIMA", "DE ALMEIDA", "DA CONCEIÇÃO", "DE ARAUJO", "DE CARVALHO", "DOS REIS", "DE MELO", "DA ROCHA")
_ACTIVITIES = ("COMERCIO SERVICOS TRANSPORTES CONSTRUCOES DISTRIBUIDORA INDUSTRIA REPRESENTACOES CONSULTORIA "
               "TECNOLOGIA ALIMENTOS CONFECCOES MATERIAIS AUTO-PECAS SUPERMERCADO FARMACIA PADARIA RESTAURANTE "
               "LANCHONETE ACADEMIA CLINICA ODONTOLOGIA ENGENHARIA EDUCACIONAL IMOBILIARIA TRANSPORTADORA MOVEIS "
               "CALCADOS INFORMATICA CONTABILIDADE AGROPECUARIA LOGISTICA MARKETING EVENTOS TURISMO").split()
_FANCY = ("NOVA ERA|BOA VISTA|SAO JORGE|PRIMAVERA|ESTRELA|AURORA|UNIAO|PROGRESSO|BRASIL|CENTRAL|ALIANCA|HORIZONTE|"
          "SOL NASCENTE|BOM JESUS|SANTA LUZIA|PLANALTO|VALE VERDE|PONTO CERTO|MASTER|PRIME|REAL|IDEAL|SUPREMA|GLOBAL|"
          "MODELO|DO POVO|FAMILIA|MUNDIAL|CAPITAL|LITORAL|SERTAO|CERRADO|ITAPUA|IPANEMA|ATLANTICO|PARAISO|ESPERANCA|"
          "VITORIA|TRIUNFO|FENIX|DELTA|ALFA|OMEGA|NORDESTE").split("|")
_SAINTS = ("SAO JOSE", "SANTA RITA", "SANTO ANTONIO", "SAO FRANCISCO", "NOSSA SENHORA APARECIDA", "BOM JARDIM",
           "SANTA CRUZ", "SAO PEDRO", "SAO SEBASTIAO", "SANTA MARIA", "SAO JOAO", "SANTA TEREZINHA", "SAO MIGUEL")
_PLACES = ("DO NORTE", "DO SUL", "DO OESTE", "DA SERRA", "DAS FLORES", "DO RIO", "DA MATA", "DOS CAMPOS", "DA BARRA",
           "DO CAMPO", "DA LAGOA", "DAS PEDRAS", "DAS ALMAS", "DO ARAGUAIA", "DO PARAISO")
_TUPI = ("ITA IBI CURU JACA PIRA TAQUA ARA GUARA ITU PARA CAMBU JURU MARA IGUA UBA ANHAN CAPI TUCU BURI IPO").split()
_TUPI_END = ("TUBA PORA TINGA GUACU MIRIM PUA RANA CICA TIBA JUBA NDIBA UNA").split()


def _draw(rng: random.Random, n: int, makers: list[tuple[Callable[[], str], float]]) -> list[str]:
    """n values, each made by a maker chosen by weight."""
    funcs, weights = zip(*makers, strict=True)
    return [f() for f in rng.choices(funcs, weights, k=n)]


def _unique(rng: random.Random, make: Callable[[], str], n: int, seen: set[str] | None = None) -> list[str]:
    """n distinct values from a maker of candidates (bounded: the word lists give far more than n)."""
    seen = set() if seen is None else seen
    out: list[str] = []
    for _ in range(n * 500):
        if len(out) == n:
            break
        value = make()
        if value not in seen:
            seen.add(value)
            out.append(value)
    if len(out) < n:
        raise RuntimeError(f"word lists too small for {n} distinct values")
    return out


def _cnaes(rng: random.Random) -> list[tuple[str, str]]:
    goods = ("artigos do vestuário", "calçados", "peças e acessórios para veículos", "máquinas agrícolas",
             "produtos farmacêuticos", "cosméticos e perfumaria", "materiais de construção", "ferragens", "móveis",
             "eletrodomésticos", "equipamentos de informática", "brinquedos", "bebidas", "laticínios", "carnes",
             "pescados", "hortifrutigranjeiros", "açúcar", "café torrado", "produtos de padaria", "sorvetes",
             "chocolates", "tecidos", "artefatos de cerâmica", "vidros", "embalagens plásticas", "papel e papelão",
             "produtos químicos", "tintas e vernizes", "fertilizantes", "joias e relógios", "instrumentos musicais",
             "artigos esportivos", "livros", "flores e plantas", "combustíveis", "pneumáticos", "motocicletas",
             "bicicletas", "artigos de óptica", "produtos de limpeza", "rações", "madeira", "alumínio")
    crops = ("arroz", "milho", "soja", "feijão", "mandioca", "cana-de-açúcar", "café", "laranja", "uva", "algodão")
    services = ("engenharia", "arquitetura", "contabilidade", "advocacia", "limpeza em prédios", "vigilância",
                "cobrança", "organização de eventos", "tradução", "pesquisa de mercado", "publicidade", "estética",
                "manutenção de computadores", "lavanderia", "fisioterapia", "psicologia", "ensino de idiomas")
    templates = ("Comércio varejista de {g}", "Comércio atacadista de {g}", "Fabricação de {g}", "Cultivo de {c}",
                 "Representantes comerciais e agentes do comércio de {g}", "Beneficiamento de {c}", "Serviços de {s}",
                 "Atividades de {s}", "Transporte rodoviário de {g}", "Aluguel de {g}", "Reparação de {g}",
                 "Comércio varejista de {g}; {h}", "Fabricação de {g}; {h}")  # §3: semicolons in Cnaes too
    tails = ("", "", "", " em geral", " não especificados anteriormente", ", exceto {h}", " sob encomenda")
    known = [("6204000", "Consultoria em tecnologia da informação"),  # from the real samples
             ("6201501", "Desenvolvimento de programas de computador sob encomenda"),
             ("9430800", "Atividades de associações de defesa de direitos sociais")]
    divisions = (1, 2, 3, 5, 6, 7, 8, 9, *range(10, 34), *range(35, 40), 41, 42, 43, 45, 46, 47, *range(49, 54),
                 55, 56, *range(58, 67), 68, *range(69, 76), *range(77, 83), *range(84, 89), *range(90, 98), 99)
    subclasses = ("00", "01", "02", "03", "99")
    codes = _unique(rng, lambda: f"{rng.choice(divisions):02d}{rng.randrange(1000):03d}{rng.choice(subclasses)}",
                    LOOKUP_SIZES["cnaes"] - len(known), {c for c, _ in known})

    def describe() -> str:
        g, h = rng.sample(goods, 2)
        text = rng.choice(templates) + rng.choice(tails)
        return text.format(g=g, h=h, c=rng.choice(crops), s=rng.choice(services))

    rows = known + [(c, describe()) for c in codes]
    rng.shuffle(rows)  # the real file is not sorted by code
    return rows


def _municipios(rng: random.Random) -> list[tuple[str, str, str]]:
    """(code, name, uf): 4-digit Receita codes in blocks per state, 7107 SAO PAULO, 9701 BRASILIA, 9707 EXTERIOR."""
    codes = sorted(rng.sample([c for c in range(1, 9700) if c != 7107], sum(u[2] for u in _UFS) - 2))
    names = [(lambda: f"{rng.choice(_SAINTS)} {rng.choice(_PLACES)}", 30), (lambda: f"NOVA {rng.choice(_FANCY)}", 8),
             (lambda: rng.choice(_TUPI) + rng.choice(_TUPI_END), 35), (lambda: f"PORTO {rng.choice(_FANCY)}", 5),
             (lambda: f"{rng.choice(_TUPI)}{rng.choice(_TUPI_END)} {rng.choice(_PLACES)}", 20),
             (lambda: f"OLHO D'AGUA {rng.choice(_PLACES)}", 2)]  # apostrophes are real in town names
    rows: list[tuple[str, str, str]] = []
    for uf, _, towns, *_ in _UFS:
        if uf == "DF":
            rows.append(("9701", "BRASILIA", "DF"))
            continue
        for k in range(towns):
            name = {0: "SAO PAULO", 1: "SANTA BARBARA D'OESTE"}.get(k) if uf == "SP" else None
            rows.append(("7107" if name == "SAO PAULO" else f"{codes.pop(0):04d}", name or _draw(rng, 1, names)[0], uf))
    rows.append(("9707", "EXTERIOR", "EX"))
    return rows


def _small_lookups(rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    """Motivos, naturezas, paises and qualificacoes: invented text around the few codes the data relies on."""
    actions = ("EXTINCAO POR", "BAIXA POR", "INAPTIDAO POR", "SUSPENSAO POR", "ANULACAO POR", "CANCELAMENTO POR")
    reasons = ("INCORPORACAO", "FUSAO", "CISAO TOTAL", "OMISSAO DE DECLARACOES", "OMISSAO CONTUMAZ", "DECISAO "
               "JUDICIAL", "INEXISTENCIA DE FATO", "DETERMINACAO DO ORGAO DE REGISTRO", "MULTIPLICIDADE",
               "LOCALIZACAO DESCONHECIDA", "VICIOS NO REGISTRO", "FALECIMENTO DO EMPRESARIO", "TRANSFERENCIA DE "
               "FILIAL", "ENCERRAMENTO DA FALENCIA", "ENCERRAMENTO DO ESPOLIO", "INTERESSE DA ADMINISTRACAO",
               "PENDENCIA CADASTRAL", "NAO INICIO DE ATIVIDADE")
    motivo_codes = ["00", "01", *sorted(rng.sample([f"{n:02d}" for n in range(2, 83) if f"{n:02d}" != "32"], 60))]
    motivo_text = ["SEM  MOTIVO", "EXTINCAO POR ENCERRAMENTO LIQUIDACAO VOLUNTARIA"]  # as in the real samples
    motivo_text += _unique(rng, lambda: f"{rng.choice(actions)} {rng.choice(reasons)}", 60)

    naturezas = {"2135": "Empresário (Individual)", "2062": "Sociedade Empresária Limitada", "2305": "Empresa "
                 "Individual de Responsabilidade Limitada", "2240": "Sociedade Simples Limitada", "2232": "Sociedade "
                 "Simples Pura", "2054": "Sociedade Anônima Fechada", "2046": "Sociedade Anônima Aberta",
                 "2011": "Empresa Pública", "2143": "Cooperativa", "3999": "Associação Privada",
                 "3220": "Organização Religiosa", "3069": "Fundação Privada", "4090": "Candidato a Cargo Político",
                 "1031": "Órgão Público Municipal", "1244": "Município", "1023": "Órgão Público Estadual",
                 "1015": "Órgão Público Federal"}
    heads = {"1": ("Órgão do Poder Legislativo", "Órgão do Poder Judiciário", "Autarquia", "Fundação Pública",
                   "Fundo Público", "Consórcio Público", "Órgão Autônomo", "Serviço Público", "Empresa Estatal"),
             "2": ("Sociedade em Nome Coletivo", "Sociedade em Comandita", "Consórcio de Sociedades", "Grupo de "
                   "Sociedades", "Cooperativa de Crédito", "Sociedade Estrangeira", "Empresa Binacional"),
             "3": ("Associação", "Fundação", "Organização Social", "Entidade Sindical", "Serviço Social",
                   "Comunidade Indígena", "Partido Político", "Organização da Sociedade Civil"),
             "4": ("Contribuinte Individual", "Produtor Rural", "Leiloeiro", "Segurado Especial"),
             "5": ("Organização Internacional", "Representação Diplomática", "Instituição Extraterritorial")}
    tails = {"1": (" Federal", " Estadual ou do Distrito Federal", " Municipal", " Estadual"),
             "2": ("", " Limitada", " por Ações", " de Natureza Empresária", " Estrangeira"),
             "3": ("", " Privada", " Domiciliada no Exterior", " de Âmbito Nacional", " de Direito Privado"),
             "4": ("", " (Pessoa Física)", " Domiciliado no Exterior"), "5": ("", " de Âmbito Regional")}
    seen, used = set(naturezas.values()), {c[:3] for c in (*naturezas, *ORPHAN_CODES["naturezas"])}
    for group, size in (("1", 33), ("2", 30), ("3", 18), ("4", 7), ("5", 2)):  # 90 codes of 4 digits
        free = [f"{group}{n:02d}" for n in range(1, 100) if f"{group}{n:02d}" not in used]
        for prefix in sorted(rng.sample(free, size - sum(c[0] == group for c in naturezas))):
            text = _unique(rng, lambda g=group: rng.choice(heads[g]) + rng.choice(tails[g]), 1, seen)[0]
            naturezas[prefix + str(sum(map(mul, (4, 3, 2), map(int, prefix))) % 10)] = text

    countries = ("ALEMANHA ARGENTINA PORTUGAL ITALIA ESPANHA FRANCA JAPAO CHINA URUGUAI PARAGUAI CHILE BOLIVIA PERU "
                 "COLOMBIA VENEZUELA CANADA MEXICO SUICA BELGICA ANGOLA").split()
    country = (lambda: f"REPUBLICA DE {rng.choice(_TUPI)}{rng.choice(_TUPI_END)}",
               lambda: f"ILHAS {rng.choice(_TUPI)}{rng.choice(_TUPI_END)}",
               lambda: f"{rng.choice(_TUPI)}{rng.choice(_TUPI_END)} {rng.choice(('DO NORTE', 'DO SUL', 'ORIENTAL'))}")
    pais_names = ["BRASIL", *countries, *_unique(rng, lambda: rng.choice(country)(), 254 - len(countries))]
    free = [f"{c:03d}" for c in range(1, 1000) if f"{c:03d}" not in ("105", *ORPHAN_CODES["paises"])]

    known = {"00": "Não informada", "05": "Administrador", "10": "Diretor", "16": "Presidente", "22": "Sócio",
             "20": "Sociedade Consorciada", "37": "Sócio Pessoa Jurídica Domiciliado no Exterior", "50": "Empresário",
             "49": "Sócio-Administrador", "51": "Candidato a Cargo Político", "65": "Titular Pessoa Física"}
    roles = ("Sócio", "Procurador", "Conselheiro de Administração", "Tesoureiro", "Liquidante", "Interventor",
             "Inventariante", "Tutor", "Curador", "Representante", "Titular", "Produtor Rural", "Fundador", "Gestor")
    qualifiers = ("", " Pessoa Física", " Pessoa Jurídica", " Residente no Exterior", " Comanditado", " Comanditário",
                  " Ostensivo", " Menor", " Incapaz", " Estrangeiro", " Judicial")
    skipped = {"01", "02", "03", "04", "06", "11", "12", "44", "45", "46", *ORPHAN_CODES["qualificacoes"]}
    invented = iter(_unique(rng, lambda: rng.choice(roles) + rng.choice(qualifiers), 68, set(known.values())))
    return {
        "motivos": list(zip(motivo_codes, motivo_text, strict=True)),
        "naturezas": sorted(naturezas.items()),
        "paises": sorted(zip(["105", *rng.sample(free, 254)], pais_names, strict=True)),
        "qualificacoes": [(c, known.get(c) or next(invented)) for c in map("{:02d}".format, range(80))
                          if c not in skipped],
    }


# ---------------------------------------------------------------------------------------------------------
# Pools of values, built once per process from (seed, release); a row then draws from them with one random().


@dataclass(frozen=True)
class _Pools:
    lookups: dict[str, list[tuple[str, str]]]
    towns: list[tuple[str, str, str]]  # code, name, uf (EXTERIOR left out)
    streets: list[tuple[str, str, str, str, str, str]]  # tipo, logradouro, bairro, cep, uf, municipio
    people: list[str]
    heads: list[str]  # company names without their suffix
    dates: list[str]
    recent: list[str]  # dates since alphanumeric CNPJs started, for the newest companies
    cnae_codes: list[str]
    cnae_principal: list[str]
    cnae_secundaria: list[str]
    numeros: list[str]
    complementos: list[str]
    phones: list[str]
    emails: list[str]
    foreign_paises: list[str]
    ddd: dict[str, list[str]]
    capitals: dict[str, list[str]]  # capital_social by size class


@functools.lru_cache(maxsize=2)
def _pools(seed: int, release: str) -> _Pools:
    """Lookups and value pools; seeded apart from the per-file generators, so every process builds the same."""
    rng = random.Random(f"cnpj-duck-sample:{seed}:pools")
    pick, rint = rng.choice, rng.randrange
    lookups = _small_lookups(rng)
    lookups["cnaes"] = _cnaes(rng)
    municipios = _municipios(rng)
    lookups["municipios"] = [(c, n) for c, n, _ in municipios]

    def person() -> str:
        first = pick(_MALE) if rng.random() < 0.55 else pick(_FEMALE)
        middle = f" {pick(_FEMALE if first in _FEMALE else _MALE)}" if rng.random() < 0.25 else ""
        family = pick(_LINKED) if rng.random() < 0.35 else pick(_SURNAMES)
        return f"{first}{middle} {family}" + (f" {pick(_SURNAMES)}" if rng.random() < 0.6 else "")

    people = [person() for _ in range(20_000)]
    heads = _draw(rng, 20_000, [(lambda: f"{pick(_FANCY)} {pick(_ACTIVITIES)}", 3),
                                (lambda: f"{pick(_SURNAMES)} {pick(_ACTIVITIES)}", 3),
                                (lambda: f"{pick(_ACTIVITIES)} {pick(_FANCY)}", 2),
                                (lambda: f"{pick(_SURNAMES)} & {pick(_SURNAMES)}", 2),
                                (lambda: f"{pick(_ACTIVITIES)} E {pick(_ACTIVITIES)} {pick(_SURNAMES)}", 1)])
    towns_by_uf: dict[str, list[str]] = {}
    for code, _, uf in municipios[:-1]:
        towns_by_uf.setdefault(uf, []).append(code)
    tipos = _draw(rng, 1000, [(lambda: "RUA", 60), (lambda: "AVENIDA", 15), (lambda: "", 6), (lambda: pick((
        "TRAVESSA", "ESTRADA", "RODOVIA", "ALAMEDA", "PRACA", "QUADRA", "SETOR", "VIA", "LARGO", "BECO", "SITIO",
        "FAZENDA", "LOTEAMENTO")), 19)])
    titles = ("DOUTOR", "PADRE", "PRESIDENTE", "MARECHAL", "GOVERNADOR", "PROFESSOR", "CORONEL", "VEREADOR")
    logradouros = [(lambda: pick(people), 40), (lambda: f"{pick(titles)} {pick(_MALE)} {pick(_SURNAMES)}", 20),
                   (lambda: pick(("SETE DE SETEMBRO", "QUINZE DE NOVEMBRO", "VINTE E UM DE ABRIL", "TREZE DE MAIO",
                                  "DAS FLORES", "DAS PALMEIRAS", "DOS IPES", "DO SOL", "DA PAZ", "PRINCIPAL", "BRASIL",
                                  "SAO PAULO", "DOM PEDRO II")), 25),
                   (lambda: f"{pick(('PROJETADA', 'A', 'B', 'C', 'DEZ', 'QUATRO'))} {rint(1, 60)}", 15)]
    bairros = [(lambda: "CENTRO", 20), (lambda: f"JARDIM {pick(_FANCY)}", 15), (lambda: f"VILA {pick(_SURNAMES)}", 15),
               (lambda: f"PARQUE {pick(_FANCY)}", 8), (lambda: f"CONJUNTO {pick(_SAINTS)}", 5), (lambda: "", 2),
               (lambda: pick(("ZONA RURAL", "DISTRITO INDUSTRIAL")), 7), (lambda: pick(_SAINTS), 10)]
    ufs = rng.choices(_UFS, [u[3] for u in _UFS], k=30_000)
    streets = [(pick(tipos), *_draw(rng, 1, logradouros), *_draw(rng, 1, bairros),
                f"{pick(u[4].split())}{rint(1_000_000):06d}", u[0],
                # the capital first, then a long tail of towns
                towns_by_uf[u[0]][min(int(rng.paretovariate(0.8)) - 1, u[2] - 1)]) for u in ufs]

    end, since = dt.date(*map(int, release.split("-")), 1), dt.date(2026, 7, 1)
    dates = [max(end - dt.timedelta(days=int(rng.expovariate(1 / 3300))), dt.date(1901, 1, 1)).strftime("%Y%m%d")
             for _ in range(50_000)]
    recent = [(since + dt.timedelta(days=rint(max((end - since).days, 1)))).strftime("%Y%m%d") for _ in range(2000)]
    cnae_codes = [c for c, _ in lookups["cnaes"]]
    popular = rng.sample(cnae_codes, 60)
    principal = [pick(popular) if rng.random() < 0.55 else pick(cnae_codes) for _ in range(20_000)]
    secundaria = _draw(rng, 20_000, [(lambda: "", 55), (lambda: ",".join(rng.sample(
        cnae_codes, min(int(rng.expovariate(0.3)) + 1, 40))), 45)])
    numeros = _draw(rng, 10_000, [(lambda: str(int(rng.lognormvariate(4, 1.3)) + 1), 78), (lambda: "S/N", 15),
                                  (lambda: "SN", 2), (lambda: "S N", 0.2), (lambda: "0", 1), (lambda: "", 1),
                                  (lambda: f"{rint(1, 999)}{pick('ABC')}", 1), (lambda: f"KM {rint(1, 300)}", 1),
                                  (lambda: f"LOTE {rint(1, 40)}", 0.8)])
    complementos = _draw(rng, 10_000, [
        (lambda: "", 55),
        (lambda: f"QUADRA: {rint(1, 999)}; LOTE: {rint(1, 60)}; SALA: {rint(1, 30):02d};", 4),  # ~5% with `;` (§3)
        (lambda: f"BLOCO {pick('ABCDE')}; SALA {rint(1, 500)}", 1),
        (lambda: f"{pick(('SALA', 'APTO', 'LOJA', 'CASA', 'ANDAR', 'GALPAO', 'BOX', 'CONJ'))} {rint(1, 1200)}", 30),
        (lambda: pick(("FUNDOS", "TERREO", "BLOCO B", "ANEXO", "SOBRELOJA", "LOJA  02", "KM 5 ZONA RURAL")), 10)])
    phones = [f"{rint(2, 6)}{rint(10**6, 10**7)}" if rng.random() < 0.6 else f"9{rint(10**7, 10**8)}"
              for _ in range(30_000)]
    domains = ("GMAIL.COM", "HOTMAIL.COM", "YAHOO.COM.BR", "UOL.COM.BR", "BOL.COM.BR", "OUTLOOK.COM", "TERRA.COM.BR")
    emails = []
    for name in (pick(people).split() for _ in range(20_000)):
        user = pick((f"{name[0]}.{name[-1]}", f"{name[0]}{rint(100)}", f"{name[0][0]}{name[-1]}",
                     pick(("CONTATO", "FINANCEIRO", "ADM", "CONTABILIDADE", "VENDAS", "ESCRITORIO"))))
        email = f"{user}@{pick(domains) if rng.random() < 0.8 else name[-1] + '.COM.BR'}"
        emails.append(email.lower() if rng.random() < 0.3 else email)

    def money(low: float, high: float, cents: float) -> Callable[[], str]:  # decimal comma, no thousands separator
        return lambda: f"{int(10 ** rng.uniform(low, high))},{rint(100) if rng.random() < cents else 0:02d}"

    rounds = sorted(v * 10**e for v in (1, 2, 3, 5) for e in range(2, 8))
    rounds_text = [f"{v},00" for v in rounds]
    capitals = {
        "person": _draw(rng, 2000, [(lambda: "0,00", 20), (lambda: pick(rounds_text[:12]), 70), (money(2, 5, .5), 10)]),
        "company": _draw(rng, 2000, [(lambda: "0,00", 10), (lambda: pick(rounds_text), 65), (money(3, 7, 0.3), 25)]),
        "big": _draw(rng, 2000, [(lambda: pick(rounds_text[12:]), 40), (money(5, 10, 0.6), 55), (lambda: "0,00", 5)]),
        "none": _draw(rng, 2000, [(lambda: "0,00", 96), (lambda: pick(rounds_text), 4)]),
    }
    return _Pools(lookups, municipios[:-1], streets, people, heads, dates, recent, cnae_codes, principal, secundaria,
                  numeros, complementos, phones, emails, [c for c, _ in lookups["paises"] if c != "105"],
                  {u[0]: u[5].split() for u in _UFS}, capitals)


# ---------------------------------------------------------------------------------------------------------
# Rows. Each builder yields the fields of one record at a time, in company order (real files are not sorted).


def _expand(items: Iterable[tuple[str, int]]) -> tuple[str, ...]:
    """Each value repeated `weight` times, so that a uniform draw is a weighted draw."""
    return tuple(v for v, w in items for _ in range(w))


_SITUACOES = _expand([("02", 90), ("08", 92), ("04", 15), ("03", 1), ("01", 2)])  # mostly 02 and 08 (§5)
_SIZE_CLASS = {"person": "person", "ltda": "company", "eireli": "company", "sa": "big", "coop": "big"}
_PORTES = {"person": _expand([("01", 93), ("05", 3), ("00", 4)]),  # 00/01/03/05 as the data writes them (§5)
           "company": _expand([("01", 60), ("03", 12), ("05", 25), ("00", 3)]),
           "big": _expand([("05", 85), ("03", 5), ("00", 10)]), "none": _expand([("05", 80), ("00", 20)])}
_FAIXAS = _expand([("1", 2), ("2", 3), ("3", 10), ("4", 17), ("5", 20), ("6", 18), ("7", 14), ("8", 10), ("9", 6)])
_LTDA_SUFFIX = _expand([("LTDA", 70), ("LTDA ME", 10), ("LTDA - ME", 5), ("LTDA EPP", 5), ("LIMITADA", 3), ("ME", 5)])
_SPECIAL = ("RECUPERACAO JUDICIAL", "FALIDO", "EM LIQUIDACAO", "LIQUIDACAO JUDICIAL", "INTERVENCAO")
_FOREIGN_CITIES = ("MIAMI", "LISBOA", "PORTO", "BUENOS AIRES", "NEW YORK", "MADRID", "MILANO", "TOKYO", "ZURICH",
                   "ORLANDO", "MONTEVIDEO", "LUANDA", "PARIS", "TORONTO", "SHANGHAI", "LONDON")
_FOREIGN_SURNAMES = ("SMITH", "MULLER", "ROSSI", "GARCIA", "TANAKA", "DUBOIS", "SILVEIRA")
_NAMES = {  # razao_social by style: (prefixes, words after the prefix)
    "coop": (("COOPERATIVA DE CREDITO", "COOPERATIVA AGROPECUARIA", "COOPERATIVA DE TRABALHO"), _FANCY),
    "association": (("ASSOCIACAO DOS MORADORES DO BAIRRO", "ASSOCIACAO DE PAIS E MESTRES DA ESCOLA",
                     "ASSOCIACAO COMUNITARIA", "ASSOCIACAO DOS PRODUTORES RURAIS DE"), _SAINTS),
    "religious": (("IGREJA EVANGELICA", "IGREJA BATISTA", "IGREJA ASSEMBLEIA DE DEUS", "IGREJA PENTECOSTAL"), _FANCY),
    "municipal": (("MUNICIPIO DE", "FUNDO MUNICIPAL DE SAUDE DE", "CAMARA MUNICIPAL DE", "SECRETARIA MUNICIPAL DE "
                   "EDUCACAO DE"), ()),
    "state": (("SECRETARIA DE ESTADO DA FAZENDA -", "POLICIA MILITAR DO ESTADO -", "FUNDO ESTADUAL DE SAUDE -"), ()),
    "federal": (("MINISTERIO DA FAZENDA -", "SUPERINTENDENCIA REGIONAL -", "DELEGACIA DA RECEITA -"), ()),
}
_STATE_NAMES = {u[0]: u[1] for u in _UFS}


def _picker(rng: random.Random) -> Callable[[tuple[str, ...] | list[str]], str]:
    rnd = rng.random
    return lambda pool: pool[int(rnd() * len(pool))]  # cheaper than rng.choice, and as deterministic


def _empresa_rows(p: _Pools, plan: _Plan, rng: random.Random, companies: range) -> Iterator[list[str]]:
    pick, people, heads = _picker(rng), p.people, p.heads
    for i in companies:
        basico, k, _, _, _ = _company(plan, i)
        kind = _KINDS[k]
        style, ente = kind.style, ""
        if style == "person":
            razao = f"{pick(people)} {_cpf(rng)}"  # the owner's CPF in clear (§5)
        elif style in ("ltda", "eireli", "sa"):
            suffix = {"ltda": pick(_LTDA_SUFFIX), "eireli": "EIRELI", "sa": pick(("S.A.", "S/A", "S A"))}[style]
            razao = f"{pick(heads)} {suffix}"
        elif style == "candidate":
            razao = f"ELEICAO {pick(('2018', '2020', '2022', '2024'))} {pick(people)} {pick(('VEREADOR', 'PREFEITO'))}"
        elif style in ("municipal", "state", "federal"):  # ente_federativo_responsavel only for natureza 1XXX (§5)
            _, town, uf = pick(p.towns)
            razao = f"{pick(_NAMES[style][0])} {uf if style == 'state' else town}"
            ente = {"municipal": f"MUNICIPIO DE {town} - {uf}", "state": _STATE_NAMES[uf], "federal": "UNIAO"}[style]
            ente = "" if rng.random() < 0.1 else ente
        else:
            prefixes, words = _NAMES[style]
            razao = f"{pick(prefixes)} {pick(words)}"
        size = _SIZE_CLASS.get(style, "none")
        yield [basico, razao, kind.natureza, kind.qualificacao, pick(p.capitals[size]), pick(_PORTES[size]), ente]


def _estabelecimento_rows(p: _Pools, plan: _Plan, rng: random.Random, companies: range) -> Iterator[list[str]]:
    rnd, pick = rng.random, _picker(rng)
    codes = [c for c, _ in p.lookups["motivos"]]
    motivos = {"02": ("00",), "08": ("01",) * 17 + tuple(codes[2:5]), "04": tuple(codes[5:8]),
               "03": tuple(codes[8:10]), "01": tuple(codes[10:12])}
    streets, ddd, phones = p.streets, p.ddd, p.phones
    for i in companies:
        basico, _, n_estab, _, _ = _company(plan, i)
        new = i >= plan.alnum_start
        dates = p.recent if new else p.dates
        for n in range(n_estab):
            ordem = _ordem(n, new)
            tipo, logradouro, bairro, cep, uf, municipio = pick(streets)
            situacao, inicio, later = pick(_SITUACOES), pick(dates), pick(dates)
            data_situacao = inicio if later < inicio or (situacao == "02" and rnd() < 0.6) else later
            ddd_1 = tel_1 = ddd_2 = tel_2 = ddd_fax = fax = ""
            if rnd() < 0.62:
                ddd_1, tel_1 = pick(ddd[uf]), pick(phones)
                if rnd() < 0.2:
                    ddd_2, tel_2 = ddd_1, pick(phones)
                if rnd() < 0.05:
                    ddd_fax, fax = ("0", "0") if rnd() < 0.2 else (ddd_1, pick(phones))  # 0 as filler (§5)
            special = pick(_SPECIAL) if rnd() < 0.001 else ""
            yield [
                basico, ordem, cnpj_check_digits(basico + ordem), "1" if n == 0 else "2",
                "" if rnd() < 0.55 else f"{pick(_FANCY)} {pick(_ACTIVITIES)}", situacao, data_situacao,
                pick(motivos[situacao]), "", "105" if rnd() < 0.03 else "", inicio, pick(p.cnae_principal),
                pick(p.cnae_secundaria), tipo, logradouro, pick(p.numeros), pick(p.complementos), bairro, cep, uf,
                municipio, ddd_1, tel_1, ddd_2, tel_2, ddd_fax, fax, "" if rnd() < 0.55 else pick(p.emails),
                special, pick(p.dates) if special else "",
            ]


def _socio_rows(p: _Pools, plan: _Plan, rng: random.Random, companies: range) -> Iterator[list[str]]:
    rnd, pick = rng.random, _picker(rng)
    quals = {"ltda": ("49",) * 6 + ("22",) * 4, "eireli": ("65",), "sa": ("10", "10", "05", "16"),
             "coop": ("16", "10", "05"), "association": ("16", "16", "10", "05")}
    for i in companies:
        basico, k, _, n_socios, _ = _company(plan, i)
        style = _KINDS[k].style
        for _ in range(n_socios):
            u, pais = rnd(), ""
            if u < 0.88:  # pessoa fisica: masked CPF
                ident, name, doc, qual = "2", pick(p.people), _masked_cpf(rnd), pick(quals.get(style, ("49",)))
                age, pais = pick(_FAIXAS), "105" if rnd() < 0.01 else ""
            elif u < 0.98:  # pessoa juridica: another company's full CNPJ
                ident, name, doc, qual, age = ("1", f"{pick(p.heads)} {pick(_LTDA_SUFFIX)}",
                                               _full_cnpj(plan, int(rnd() * plan.total)), "22", "0")
            else:  # estrangeiro: no document, a country
                ident, name, doc, qual, age = "3", f"{pick(_MALE)} {pick(_FOREIGN_SURNAMES)}", "", "37", "0"
                pais = pick(p.foreign_paises)
            if rnd() < 0.97:
                rep, rep_name, rep_qual = "***000000**", "", "00"  # no legal representative (§5)
            else:
                rep, rep_name, rep_qual = _masked_cpf(rnd), pick(p.people), pick(("05", "09", "14", "17"))
            yield [basico, ident, name, doc, qual, pick(p.dates), pais, rep, rep_name, rep_qual, age]


def _simples_rows(p: _Pools, plan: _Plan, rng: random.Random, companies: range) -> Iterator[list[str]]:
    rnd, pick, none = rng.random, _picker(rng), "00000000"  # 00000000: no date
    for i in companies:
        basico, k, _, _, in_simples = _company(plan, i)
        if not in_simples:
            continue
        a, b = sorted((pick(p.dates), pick(p.dates)))
        u = rnd()
        simples = ("S", a, none) if u < 0.55 else ("N", a, b) if u < 0.85 else ("N" if u < 0.99 else "", none, none)
        mei, v = ("N", none, none), rnd()
        if _KINDS[k].style == "person" and simples[0] == "S" and v < 0.7:
            mei = ("S", a, none)
        elif _KINDS[k].style == "person" and v < 0.3:
            mei = ("N", a, b)
        yield [basico, *simples, *mei]


_ROWS = {"empresas": _empresa_rows, "estabelecimentos": _estabelecimento_rows, "socios": _socio_rows,
         "simples": _simples_rows}


# ---------------------------------------------------------------------------------------------------------
# Quirks (RFB_FORMAT.md §3 and §5). Forced ones take the first rows of file 0, one per row, and are listed in
# the manifest; random ones hit later rows at the per-row rates below (only malformed ones are listed).

_FORCED = {
    "empresas": ("semicolon_in_value", "newline_in_value", "c1_control_byte", "leading_trailing_spaces",
                 "extra_field", "capital_negative", "capital_sentinel", "orphan_natureza", "orphan_qualificacao",
                 "missing_field", "ente_apostrophe", "cpf_in_name", "duplicate_row", "duplicate_key",
                 "unterminated_quote"),
    "estabelecimentos": ("semicolon_in_value", "newline_in_value", "c1_control_byte", "nul_byte",
                         "leading_trailing_spaces", "extra_field", "date_zero", "date_zeros", "date_empty",
                         "date_7_chars", "date_impossible", "date_absurd_year", "orphan_motivo", "missing_field",
                         "orphan_pais", "cep_7_digits", "cep_zero", "cep_letters", "cep_spaces", "numero_sn",
                         "numero_sn_compact", "numero_sn_spaced", "pais_brasil", "abroad", "long_cnae_list",
                         "duplicate_row", "duplicate_key", "unterminated_quote"),
    "socios": ("semicolon_in_value", "newline_in_value", "c1_control_byte", "leading_trailing_spaces", "extra_field",
               "masked_cpf", "pj_socio", "foreign_socio", "legal_representative", "date_zero", "date_7_chars",
               "missing_field", "date_impossible", "date_absurd_year", "orphan_qualificacao", "orphan_pais",
               "duplicate_row", "unterminated_quote"),
    "simples": ("date_zero", "date_7_chars", "date_impossible", "date_absurd_year", "opcao_blank", "extra_field",
                "missing_field", "duplicate_row", "unterminated_quote"),
}
_TEXT_RATES = {"leading_trailing_spaces": 2e-3, "semicolon_in_value": 1e-6, "newline_in_value": 1e-7,
               "c1_control_byte": 1e-7}
_DATE_RATES = {"date_zero": 1e-5, "date_7_chars": 2e-6, "date_impossible": 2e-6, "date_absurd_year": 2e-6}
_MALFORMED_RATES = dict.fromkeys(MALFORMED_KINDS, 3e-8)  # a few per family in a full release
_RATES = {
    "empresas": {**_TEXT_RATES, "capital_negative": 1e-5, "capital_sentinel": 2e-6, "orphan_natureza": 1e-5,
                 "orphan_qualificacao": 1e-5, "duplicate_row": 1e-7, "duplicate_key": 1e-7, **_MALFORMED_RATES},
    "estabelecimentos": {**_TEXT_RATES, **_DATE_RATES, "nul_byte": 1e-6, "date_zeros": 1e-5, "date_empty": 1e-5,
                         "orphan_motivo": 2.8e-4, "orphan_pais": 1e-5, "cep_7_digits": 5e-4, "cep_zero": 2e-4,
                         "cep_letters": 1e-5, "cep_spaces": 1e-5, "abroad": 1.5e-3, "long_cnae_list": 1e-6,
                         "duplicate_row": 1e-7, "duplicate_key": 1e-7, **_MALFORMED_RATES},
    "socios": {**_TEXT_RATES, **_DATE_RATES, "orphan_qualificacao": 1e-4, "orphan_pais": 1e-5, "duplicate_row": 1e-6,
               **_MALFORMED_RATES},
    "simples": {**_DATE_RATES, "duplicate_row": 1e-7, **_MALFORMED_RATES},
}
_RANDOM = {f: (tuple(r), tuple(sum(list(r.values())[: n + 1]) for n in range(len(r)))) for f, r in _RATES.items()}
_COL = {name: {c: n for n, c in enumerate(f.columns)} for name, f in FAMILIES.items()}
_KEY_COLUMNS = {"empresas": ("cnpj_basico",), "estabelecimentos": ("cnpj_basico", "cnpj_ordem", "cnpj_dv"),
                "socios": ("cnpj_basico", "nome_socio_razao_social"), "simples": ("cnpj_basico",)}
_TEXT_COLUMN = {"empresas": "razao_social", "estabelecimentos": "complemento", "socios": "nome_socio_razao_social",
                "simples": "opcao_simples"}
_DATE_COLUMN = {"estabelecimentos": "data_inicio_atividade", "socios": "data_entrada_sociedade",
                "simples": "data_opcao_simples"}


def _odd_date(kind: str, rng: random.Random) -> str:
    """The broken dates of §5: 0, 00000000, empty, 7 characters, impossible days, absurd years."""
    year = rng.randrange(1990, 2026)
    return {"date_zero": "0", "date_zeros": "00000000", "date_empty": "",
            "date_7_chars": f"{year}{rng.randrange(1, 10)}{rng.randrange(10, 29)}",  # 2021221: the month lost its 0
            "date_impossible": f"{year}{rng.choice(('0230', '0231', '0431', '0631', '1131', '1332'))}",
            "date_absurd_year": f"{rng.choice(('4100', '0202', '2202', '0020'))}{rng.choice(('0101', '0615', '1231'))}",
            }[kind]


def _apply(kind: str, family: str, f: list[str], rng: random.Random, p: _Pools, plan: _Plan) -> str:
    """Give row f the quirk `kind`, in place; return the column that carries it."""
    col, column = _COL[family], _TEXT_COLUMN[family]
    if kind == "c1_control_byte" and family == "estabelecimentos":
        column = "logradouro"
    elif kind == "leading_trailing_spaces" and family == "estabelecimentos":
        column = "nome_fantasia"
    value = f[col[column]] or "SALA 1"
    if kind.startswith("date_"):
        estab_none = family == "estabelecimentos" and kind in ("date_zero", "date_zeros", "date_empty")
        column = "data_situacao_cadastral" if estab_none else _DATE_COLUMN[family]
        f[col[column]] = _odd_date(kind, rng)
    elif kind == "semicolon_in_value":
        f[col[column]] = (f"QUADRA: {rng.randrange(1, 999)}; LOTE: {rng.randrange(1, 60)}; SALA: 02;"
                          if family == "estabelecimentos" else f"{value}; {rng.choice(('EM LIQUIDACAO', 'ESPOLIO'))}")
    elif kind == "newline_in_value":  # a record over two physical lines (§3)
        cut = value.rfind(" ")
        f[col[column]] = f"{value[:cut]}\n{value[cut + 1:]}" if cut > 0 else f"{value}\nFUNDOS"
    elif kind == "c1_control_byte":
        at = rng.randrange(len(value))
        f[col[column]] = value[:at] + (_C1_BYTES[0] if rng.random() < 0.5 else rng.choice(_C1_BYTES)) + value[at + 1:]
    elif kind == "nul_byte":  # NULs inside Estabelecimentos fields (§3)
        at = rng.randrange(len(value) + 1)
        f[col[column]] = value[:at] + "\x00" + value[at:]
    elif kind == "leading_trailing_spaces":
        value = f[col[column]] or f"{rng.choice(_FANCY)} {rng.choice(_ACTIVITIES)}"
        f[col[column]] = f" {value.replace(' ', '   ', 1)}  "
    elif kind in ("capital_negative", "capital_sentinel"):
        column = "capital_social"
        f[col[column]] = f"-{rng.randrange(1, 100_000)},00" if kind == "capital_negative" else "999999999999"
    elif kind.startswith("orphan_"):
        column = {"orphan_natureza": "natureza_juridica", "orphan_pais": "pais", "orphan_motivo":
                  "motivo_situacao_cadastral", "orphan_qualificacao": "qualificacao_responsavel" if family ==
                  "empresas" else "qualificacao_socio"}[kind]
        lookup = {"orphan_natureza": "naturezas", "orphan_pais": "paises", "orphan_motivo": "motivos"}
        f[col[column]] = rng.choice(ORPHAN_CODES[lookup.get(kind, "qualificacoes")])
        if kind == "orphan_motivo":
            f[col["situacao_cadastral"]] = "08"
    elif kind == "ente_apostrophe":
        column = "ente_federativo_responsavel"
        town = "SANTA BARBARA D'OESTE"
        f[1:] = [f"MUNICIPIO DE {town}", "1244", "05", "0,00", "05", f"MUNICIPIO DE {town} - SP"]
    elif kind == "cpf_in_name":
        column = "razao_social"
        f[1:] = [f"{rng.choice(p.people)} {_cpf(rng)}", "2135", "50", "5000,00", "01", ""]
    elif kind.startswith("cep_"):  # 7 digits (leading zero lost), 0, letters, spaces (§5)
        column, cep = "cep", f[col["cep"]]
        f[col[column]] = {"cep_7_digits": cep[1:], "cep_zero": "0", "cep_letters": f"{cep[:2]}O{cep[3:]}",
                          "cep_spaces": f"{cep[:5]} {cep[5:]}"}[kind]
    elif kind.startswith("numero_sn"):
        column = "numero"
        f[col[column]] = {"numero_sn": "S/N", "numero_sn_compact": "SN", "numero_sn_spaced": "S N"}[kind]
    elif kind == "pais_brasil":
        column = "pais"
        f[col[column]] = "105"
    elif kind == "abroad":  # uf EX, municipio 9707, a foreign city and country (§5)
        column = "nome_cidade_exterior"
        for name, v in (("nome_cidade_exterior", rng.choice(_FOREIGN_CITIES)), ("pais", rng.choice(p.foreign_paises)),
                        ("uf", "EX"), ("municipio", "9707"), ("cep", ""), ("bairro", ""), ("ddd_1", ""),
                        ("telefone_1", "")):
            f[col[name]] = v
    elif kind == "long_cnae_list":
        column = "cnae_fiscal_secundaria"
        f[col[column]] = ",".join(rng.sample(p.cnae_codes, 97))
    elif kind == "masked_cpf":
        column = "cnpj_cpf_socio"
        f[1], f[3], f[10] = "2", _masked_cpf(rng.random), rng.choice(_FAIXAS)
    elif kind == "pj_socio":
        column = "cnpj_cpf_socio"
        f[1:5] = ["1", f"{rng.choice(p.heads)} LTDA", _full_cnpj(plan, rng.randrange(plan.total)), "22"]
        f[10] = "0"
    elif kind == "foreign_socio":
        column = "identificador_socio"
        f[1:5] = ["3", f"{rng.choice(_MALE)} {rng.choice(_FOREIGN_SURNAMES)}", "", "37"]
        f[6], f[10] = rng.choice(p.foreign_paises), "0"
    elif kind == "legal_representative":
        column = "representante_legal"
        f[7:10] = [_masked_cpf(rng.random), rng.choice(p.people), "05"]
    elif kind == "opcao_blank":
        column = "opcao_simples"
        f[1:4] = ["", "00000000", "00000000"]
    else:
        raise ValueError(f"unknown quirk kind {kind!r}")
    return column


def _text(f: list[str]) -> str:
    """One record: every field double-quoted, `;` between, LF at the end (§3)."""
    return '"' + '";"'.join(f) + '"\n'


def _malformed_text(kind: str, family: str, f: list[str]) -> str:
    if kind == "extra_field":  # as if an unescaped separator had split a text value in two
        at = _COL[family][_TEXT_COLUMN[family]]
        left, _, right = f[at].partition(" ")
        return _text([*f[:at], left, right, *f[at + 1:]])
    if kind == "missing_field":
        return _text(f[:-1])
    return '"' + '";"'.join(f) + "\n"  # unterminated_quote: the last field never closes


class _Writer:
    """Buffers the records of one zip member into latin-1 chunks, counting records and physical lines."""

    def __init__(self, fh: zipfile.ZipExtFile, family: str, zip_name: str, member_name: str) -> None:
        self.fh, self.family, self.zip_name, self.member_name = fh, family, zip_name, member_name
        self.parts: list[str] = []
        self.line = 1  # the physical line where the next record starts
        self.records = 0
        self.malformed: list[MalformedRecord] = []
        self.quirks: list[QuirkRecord] = []

    def add(self, text: str) -> int:
        """Append one record; return the line it starts on."""
        line = self.line
        self.parts.append(text)
        self.line += text.count("\n")
        self.records += 1
        if len(self.parts) > _CHUNK_RECORDS:
            self.flush(keep_last=True)
        return line

    def flush(self, keep_last: bool = False) -> None:
        """Write buffered records; the last one may stay back, so that a trailing open quote can be undone."""
        n = len(self.parts) - keep_last
        self.fh.write("".join(self.parts[:n]).encode("latin-1"))
        del self.parts[:n]

    def note(self, kind: str, line: int, f: list[str], column: str) -> None:
        col = _COL[self.family]
        key = {c: f[col[c]] for c in _KEY_COLUMNS.get(self.family, ("codigo",))}
        self.quirks.append(QuirkRecord(self.family, self.zip_name, line, kind, key, column, f[col[column]]))


def _write_rows(w: _Writer, index: int, rng: random.Random, p: _Pools, plan: _Plan) -> None:
    family = w.family
    forced = _FORCED[family] if index == 0 else ()
    kinds, cum = _RANDOM[family]
    p_any, rnd = cum[-1], rng.random
    # Note the first alphanumeric basico (and ordem) of the file: the newest companies (§5).
    watch = ["cnpj_basico", "cnpj_ordem"][: 2 if family == "estabelecimentos" else 1]
    watch = watch if plan.alnum_start < plan.total else []
    open_quote: tuple[str, MalformedRecord] | None = None  # an unterminated record no other record has followed yet
    for r, f in enumerate(_ROWS[family](p, plan, rng, plan.companies(family, index))):
        kind = forced[r] if r < len(forced) else None
        if kind is None and (index or r >= _SHOWCASE) and (u := rnd()) < p_any:
            kind = kinds[bisect(cum, u)]
            if kind in MALFORMED_KINDS and open_quote:
                kind = None  # the line after an open quote stays a valid record
        open_quote = None
        if kind in MALFORMED_KINDS:
            text = _malformed_text(kind, family, f)
            record = MalformedRecord(w.zip_name, w.member_name, family, w.add(text), kind, text[:-1])
            w.malformed.append(record)
            open_quote = (_text(f), record) if kind == "unterminated_quote" else None
            continue
        column = _apply(kind, family, f, rng, p, plan) if kind and not kind.startswith("duplicate_") else ""
        line = w.add(_text(f))
        if kind == "duplicate_row":
            w.note(kind, w.add(_text(f)), f, "cnpj_basico")
        elif kind == "duplicate_key":  # the same key again, with other content
            at = _COL[family]["capital_social" if family == "empresas" else "situacao_cadastral"]
            g = list(f)
            g[at] = {"0,00": "1,00", "08": "02"}.get(g[at], "0,00" if family == "empresas" else "08")
            w.note(kind, w.add(_text(g)), g, "cnpj_basico")
        elif kind and r < len(forced):
            w.note(kind, line, f, column)
        if watch and not f[_COL[family][watch[0]]].isdigit():
            w.note("alphanumeric_cnpj", line, f, watch.pop(0))
    if open_quote:  # nothing followed the open quote: write that record whole after all
        w.parts[-1] = open_quote[0]
        w.malformed.remove(open_quote[1])


def _write_lookup(w: _Writer, p: _Pools) -> None:
    wanted = {"semicolon_in_value": ";", "leading_trailing_spaces": "  "}  # Cnaes `;` (§3), "SEM  MOTIVO"
    for code, text in p.lookups[w.family]:
        line = w.add(_text([code, text]))
        for kind, mark in list(wanted.items()):
            if mark in text:
                del wanted[kind]
                w.note(kind, line, [code, text], "descricao")


# ---------------------------------------------------------------------------------------------------------
# Files and the release.

_Task = tuple[Path, str, float, int, str, int]  # folder, release, scale, seed, family, index
_Result = tuple[FileStats, list[MalformedRecord], list[QuirkRecord]]


def _write_file(task: _Task) -> _Result:
    folder, release, scale, seed, name, index = task
    family = FAMILIES[name]
    plan, p = _plan(release, scale, seed), _pools(seed, release)
    zip_name, member_name = family.zip_name(index), family.member_name(extraction_tag(release), index)
    year, month = (int(x) for x in release.split("-"))
    info = zipfile.ZipInfo(member_name, date_time=(year, month, 11, 10, 30, 0))  # fixed, so bytes repeat
    info.create_system, info.external_attr = 0, 0x20  # the same whatever platform builds the sample
    # Real releases have STORED members too (RFB_FORMAT.md §2): Motivos is written that way.
    info.compress_type = zipfile.ZIP_STORED if name == "motivos" else zipfile.ZIP_DEFLATED
    info._compresslevel = _DEFLATE_LEVEL  # no public setter before Python 3.13 (compress_level)
    rng = random.Random(f"cnpj-duck-sample:{seed}:{name}:{index}")
    path = folder / zip_name
    with zipfile.ZipFile(path, "w") as zf, zf.open(info, "w", force_zip64=True) as fh:
        w = _Writer(fh, name, zip_name, member_name)
        if name in _ROWS:
            _write_rows(w, index, rng, p, plan)
            if index == 0 or rng.random() < _BLANK_LAST_LINE_SHARE:  # files may end with a blank line (§3)
                w.parts.append("\n")
                w.quirks.append(QuirkRecord(name, zip_name, w.line, "blank_last_line", {}, "", ""))
                w.line += 1
        else:
            _write_lookup(w, p)
        w.flush()
    stats = FileStats(zip_name, member_name, name, index, w.records, len(w.malformed), w.line - 1, info.file_size,
                      path.stat().st_size)
    return stats, w.malformed, w.quirks


def _cost(task: _Task) -> float:
    """Rough relative build time, so that the biggest files start first in the pool."""
    _, release, scale, seed, name, index = task
    per_company = {"estabelecimentos": 3.0, "empresas": 1.0, "socios": 0.5, "simples": 0.6}.get(name, 0.0)
    return per_company * len(_plan(release, scale, seed).companies(name, index))


def generate_release(out_dir: Path, release: str = "2026-10", scale: float = 0.0002, seed: int = 0,
                     workers: int = 1, families: Iterable[str] | None = None) -> SampleManifest:
    """Write a sample release folder, out_dir/<release>/, with the real zip and member names; describe it."""
    if not is_valid_release(release):
        raise ValueError(f"release must look like 2026-10, not {release!r}")
    if not 0 <= scale <= 1.5:
        raise ValueError(f"scale must be between 0 and 1.5 (1 is a full release), not {scale}")
    names = set(FAMILIES) if families is None else set(families)
    if names - set(FAMILIES):
        raise ValueError(f"unknown families {sorted(names - set(FAMILIES))}; known: {', '.join(FAMILIES)}")
    folder = Path(out_dir) / release
    folder.mkdir(parents=True, exist_ok=True)
    tasks = [(folder, release, float(scale), seed, name, i) for name, family in FAMILIES.items() if name in names
             for i in range(family.file_count)]
    if workers > 1 and len(tasks) > 1:
        biggest_first = sorted(tasks, key=_cost, reverse=True)
        with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
            done = dict(zip(biggest_first, pool.map(_write_file, biggest_first), strict=True))
        results = [done[t] for t in tasks]
    else:
        results = [_write_file(t) for t in tasks]
    return SampleManifest(release, float(scale), seed, folder, tuple(stats for stats, _, _ in results),
                          tuple(m for _, malformed, _ in results for m in malformed),
                          tuple(q for _, _, quirks in results for q in quirks))


if __name__ == "__main__":  # timing without the CLI: python -m cnpj_duck.sample OUT_DIR [SCALE] [WORKERS]
    import sys
    import time

    started = time.perf_counter()
    built = generate_release(Path(sys.argv[1]), scale=float(sys.argv[2]) if len(sys.argv) > 2 else 0.05,
                             workers=int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    print(f"{time.perf_counter() - started:.1f} s, {sum(f.records for f in built.files):,} records, "
          f"{sum(f.uncompressed_bytes for f in built.files):,} bytes unzipped, "
          f"{sum(f.zipped_bytes for f in built.files):,} zipped, in {built.folder}")
