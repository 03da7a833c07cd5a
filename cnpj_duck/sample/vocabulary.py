"""Words, lookup tables and pools of values the sample's rows are drawn from."""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import mul

# The word lists here and in the functions below keep their dense layout: `ruff format` would give every word
# a line of its own. Code stays formatted.
# fmt: off
LOOKUP_SIZES = {"cnaes": 1359, "motivos": 62, "municipios": 5571, "naturezas": 90, "paises": 255, "qualificacoes": 68}
# Codes the data uses that its lookup lacks (§5: joins must be LEFT joins). Motivo 32 is the real one.
ORPHAN_CODES = {"motivos": ("32",), "naturezas": ("2291", "3328", "8885"), "paises": ("362", "998"),
                "qualificacoes": ("07", "36")}

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
# fmt: on


def _draw(rng: random.Random, n: int, makers: Sequence[tuple[Callable[[], str], float]]) -> list[str]:
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
    # fmt: off
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
    # fmt: on
    codes = _unique(
        rng,
        lambda: f"{rng.choice(divisions):02d}{rng.randrange(1000):03d}{rng.choice(subclasses)}",
        LOOKUP_SIZES["cnaes"] - len(known),
        {c for c, _ in known},
    )

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
    names = [
        (lambda: f"{rng.choice(_SAINTS)} {rng.choice(_PLACES)}", 30),
        (lambda: f"NOVA {rng.choice(_FANCY)}", 8),
        (lambda: rng.choice(_TUPI) + rng.choice(_TUPI_END), 35),
        (lambda: f"PORTO {rng.choice(_FANCY)}", 5),
        (lambda: f"{rng.choice(_TUPI)}{rng.choice(_TUPI_END)} {rng.choice(_PLACES)}", 20),
        (lambda: f"OLHO D'AGUA {rng.choice(_PLACES)}", 2),
    ]  # apostrophes are real in town names
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
    # fmt: off
    actions = ("EXTINCAO POR", "BAIXA POR", "INAPTIDAO POR", "SUSPENSAO POR", "ANULACAO POR", "CANCELAMENTO POR")
    reasons = ("INCORPORACAO", "FUSAO", "CISAO TOTAL", "OMISSAO DE DECLARACOES", "OMISSAO CONTUMAZ", "DECISAO "
               "JUDICIAL", "INEXISTENCIA DE FATO", "DETERMINACAO DO ORGAO DE REGISTRO", "MULTIPLICIDADE",
               "LOCALIZACAO DESCONHECIDA", "VICIOS NO REGISTRO", "FALECIMENTO DO EMPRESARIO", "TRANSFERENCIA DE "
               "FILIAL", "ENCERRAMENTO DA FALENCIA", "ENCERRAMENTO DO ESPOLIO", "INTERESSE DA ADMINISTRACAO",
               "PENDENCIA CADASTRAL", "NAO INICIO DE ATIVIDADE")
    # fmt: on
    motivo_codes = ["00", "01", *sorted(rng.sample([f"{n:02d}" for n in range(2, 83) if f"{n:02d}" != "32"], 60))]
    motivo_text = ["SEM  MOTIVO", "EXTINCAO POR ENCERRAMENTO LIQUIDACAO VOLUNTARIA"]  # as in the real samples
    motivo_text += _unique(rng, lambda: f"{rng.choice(actions)} {rng.choice(reasons)}", 60)

    # fmt: off
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
    # fmt: on
    seen, used = set(naturezas.values()), {c[:3] for c in (*naturezas, *ORPHAN_CODES["naturezas"])}
    for group, size in (("1", 33), ("2", 30), ("3", 18), ("4", 7), ("5", 2)):  # 90 codes of 4 digits
        free = [f"{group}{n:02d}" for n in range(1, 100) if f"{group}{n:02d}" not in used]
        for prefix in sorted(rng.sample(free, size - sum(c[0] == group for c in naturezas))):

            def natureza(g: str = group) -> str:
                return rng.choice(heads[g]) + rng.choice(tails[g])

            text = _unique(rng, natureza, 1, seen)[0]
            naturezas[prefix + str(sum(map(mul, (4, 3, 2), map(int, prefix))) % 10)] = text

    countries = (
        "ALEMANHA ARGENTINA PORTUGAL ITALIA ESPANHA FRANCA JAPAO CHINA URUGUAI PARAGUAI CHILE BOLIVIA PERU "
        "COLOMBIA VENEZUELA CANADA MEXICO SUICA BELGICA ANGOLA"
    ).split()
    country = (
        lambda: f"REPUBLICA DE {rng.choice(_TUPI)}{rng.choice(_TUPI_END)}",
        lambda: f"ILHAS {rng.choice(_TUPI)}{rng.choice(_TUPI_END)}",
        lambda: f"{rng.choice(_TUPI)}{rng.choice(_TUPI_END)} {rng.choice(('DO NORTE', 'DO SUL', 'ORIENTAL'))}",
    )
    pais_names = ["BRASIL", *countries, *_unique(rng, lambda: rng.choice(country)(), 254 - len(countries))]
    free = [f"{c:03d}" for c in range(1, 1000) if f"{c:03d}" not in ("105", *ORPHAN_CODES["paises"])]

    # fmt: off
    known = {"00": "Não informada", "05": "Administrador", "10": "Diretor", "16": "Presidente", "22": "Sócio",
             "20": "Sociedade Consorciada", "37": "Sócio Pessoa Jurídica Domiciliado no Exterior", "50": "Empresário",
             "49": "Sócio-Administrador", "51": "Candidato a Cargo Político", "65": "Titular Pessoa Física"}
    roles = ("Sócio", "Procurador", "Conselheiro de Administração", "Tesoureiro", "Liquidante", "Interventor",
             "Inventariante", "Tutor", "Curador", "Representante", "Titular", "Produtor Rural", "Fundador", "Gestor")
    qualifiers = ("", " Pessoa Física", " Pessoa Jurídica", " Residente no Exterior", " Comanditado", " Comanditário",
                  " Ostensivo", " Menor", " Incapaz", " Estrangeiro", " Judicial")
    # fmt: on
    skipped = {"01", "02", "03", "04", "06", "11", "12", "44", "45", "46", *ORPHAN_CODES["qualificacoes"]}
    invented = iter(_unique(rng, lambda: rng.choice(roles) + rng.choice(qualifiers), 68, set(known.values())))
    return {
        "motivos": list(zip(motivo_codes, motivo_text, strict=True)),
        "naturezas": sorted(naturezas.items()),
        "paises": sorted(zip(["105", *rng.sample(free, 254)], pais_names, strict=True)),
        "qualificacoes": [
            (c, known.get(c) or next(invented)) for c in map("{:02d}".format, range(80)) if c not in skipped
        ],
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
    heads = _draw(
        rng,
        20_000,
        [
            (lambda: f"{pick(_FANCY)} {pick(_ACTIVITIES)}", 3),
            (lambda: f"{pick(_SURNAMES)} {pick(_ACTIVITIES)}", 3),
            (lambda: f"{pick(_ACTIVITIES)} {pick(_FANCY)}", 2),
            (lambda: f"{pick(_SURNAMES)} & {pick(_SURNAMES)}", 2),
            (lambda: f"{pick(_ACTIVITIES)} E {pick(_ACTIVITIES)} {pick(_SURNAMES)}", 1),
        ],
    )
    towns_by_uf: dict[str, list[str]] = {}
    for code, _, uf in municipios[:-1]:
        towns_by_uf.setdefault(uf, []).append(code)
    tipos = _draw(
        rng,
        1000,
        [
            (lambda: "RUA", 60),
            (lambda: "AVENIDA", 15),
            (lambda: "", 6),
            (
                lambda: pick(
                    (
                        "TRAVESSA",
                        "ESTRADA",
                        "RODOVIA",
                        "ALAMEDA",
                        "PRACA",
                        "QUADRA",
                        "SETOR",
                        "VIA",
                        "LARGO",
                        "BECO",
                        "SITIO",
                        "FAZENDA",
                        "LOTEAMENTO",
                    )
                ),
                19,
            ),
        ],
    )
    titles = ("DOUTOR", "PADRE", "PRESIDENTE", "MARECHAL", "GOVERNADOR", "PROFESSOR", "CORONEL", "VEREADOR")
    logradouros = [
        (lambda: pick(people), 40),
        (lambda: f"{pick(titles)} {pick(_MALE)} {pick(_SURNAMES)}", 20),
        (
            lambda: pick(
                (
                    "SETE DE SETEMBRO",
                    "QUINZE DE NOVEMBRO",
                    "VINTE E UM DE ABRIL",
                    "TREZE DE MAIO",
                    "DAS FLORES",
                    "DAS PALMEIRAS",
                    "DOS IPES",
                    "DO SOL",
                    "DA PAZ",
                    "PRINCIPAL",
                    "BRASIL",
                    "SAO PAULO",
                    "DOM PEDRO II",
                )
            ),
            25,
        ),
        (lambda: f"{pick(('PROJETADA', 'A', 'B', 'C', 'DEZ', 'QUATRO'))} {rint(1, 60)}", 15),
    ]
    bairros = [
        (lambda: "CENTRO", 20),
        (lambda: f"JARDIM {pick(_FANCY)}", 15),
        (lambda: f"VILA {pick(_SURNAMES)}", 15),
        (lambda: f"PARQUE {pick(_FANCY)}", 8),
        (lambda: f"CONJUNTO {pick(_SAINTS)}", 5),
        (lambda: "", 2),
        (lambda: pick(("ZONA RURAL", "DISTRITO INDUSTRIAL")), 7),
        (lambda: pick(_SAINTS), 10),
    ]
    ufs = rng.choices(_UFS, [u[3] for u in _UFS], k=30_000)
    streets = [
        (
            pick(tipos),
            _draw(rng, 1, logradouros)[0],
            _draw(rng, 1, bairros)[0],
            f"{pick(u[4].split())}{rint(1_000_000):06d}",
            u[0],
            # the capital first, then a long tail of towns
            towns_by_uf[u[0]][min(int(rng.paretovariate(0.8)) - 1, u[2] - 1)],
        )
        for u in ufs
    ]

    year, month = (int(x) for x in release.split("-"))
    end, since = dt.date(year, month, 1), dt.date(2026, 7, 1)
    dates = [
        max(end - dt.timedelta(days=int(rng.expovariate(1 / 3300))), dt.date(1901, 1, 1)).strftime("%Y%m%d")
        for _ in range(50_000)
    ]
    recent = [(since + dt.timedelta(days=rint(max((end - since).days, 1)))).strftime("%Y%m%d") for _ in range(2000)]
    cnae_codes = [c for c, _ in lookups["cnaes"]]
    popular = rng.sample(cnae_codes, 60)
    principal = [pick(popular) if rng.random() < 0.55 else pick(cnae_codes) for _ in range(20_000)]
    secundaria = _draw(
        rng,
        20_000,
        [(lambda: "", 55), (lambda: ",".join(rng.sample(cnae_codes, min(int(rng.expovariate(0.3)) + 1, 40))), 45)],
    )
    numeros = _draw(
        rng,
        10_000,
        [
            (lambda: str(int(rng.lognormvariate(4, 1.3)) + 1), 78),
            (lambda: "S/N", 15),
            (lambda: "SN", 2),
            (lambda: "S N", 0.2),
            (lambda: "0", 1),
            (lambda: "", 1),
            (lambda: f"{rint(1, 999)}{pick('ABC')}", 1),
            (lambda: f"KM {rint(1, 300)}", 1),
            (lambda: f"LOTE {rint(1, 40)}", 0.8),
        ],
    )
    complementos = _draw(
        rng,
        10_000,
        [
            (lambda: "", 55),
            (lambda: f"QUADRA: {rint(1, 999)}; LOTE: {rint(1, 60)}; SALA: {rint(1, 30):02d};", 4),  # ~5% with `;` (§3)
            (lambda: f"BLOCO {pick('ABCDE')}; SALA {rint(1, 500)}", 1),
            (lambda: f"{pick(('SALA', 'APTO', 'LOJA', 'CASA', 'ANDAR', 'GALPAO', 'BOX', 'CONJ'))} {rint(1, 1200)}", 30),
            (lambda: pick(("FUNDOS", "TERREO", "BLOCO B", "ANEXO", "SOBRELOJA", "LOJA  02", "KM 5 ZONA RURAL")), 10),
        ],
    )
    phones = [
        f"{rint(2, 6)}{rint(10**6, 10**7)}" if rng.random() < 0.6 else f"9{rint(10**7, 10**8)}" for _ in range(30_000)
    ]
    domains = ("GMAIL.COM", "HOTMAIL.COM", "YAHOO.COM.BR", "UOL.COM.BR", "BOL.COM.BR", "OUTLOOK.COM", "TERRA.COM.BR")
    emails = []
    for name in (pick(people).split() for _ in range(20_000)):
        user = pick(
            (
                f"{name[0]}.{name[-1]}",
                f"{name[0]}{rint(100)}",
                f"{name[0][0]}{name[-1]}",
                pick(("CONTATO", "FINANCEIRO", "ADM", "CONTABILIDADE", "VENDAS", "ESCRITORIO")),
            )
        )
        email = f"{user}@{pick(domains) if rng.random() < 0.8 else name[-1] + '.COM.BR'}"
        emails.append(email.lower() if rng.random() < 0.3 else email)

    def money(low: float, high: float, cents: float) -> Callable[[], str]:  # decimal comma, no thousands separator
        return lambda: f"{int(10 ** rng.uniform(low, high))},{rint(100) if rng.random() < cents else 0:02d}"

    rounds = sorted(v * 10**e for v in (1, 2, 3, 5) for e in range(2, 8))
    rounds_text = [f"{v},00" for v in rounds]
    capitals = {
        "person": _draw(
            rng, 2000, [(lambda: "0,00", 20), (lambda: pick(rounds_text[:12]), 70), (money(2, 5, 0.5), 10)]
        ),
        "company": _draw(rng, 2000, [(lambda: "0,00", 10), (lambda: pick(rounds_text), 65), (money(3, 7, 0.3), 25)]),
        "big": _draw(rng, 2000, [(lambda: pick(rounds_text[12:]), 40), (money(5, 10, 0.6), 55), (lambda: "0,00", 5)]),
        "none": _draw(rng, 2000, [(lambda: "0,00", 96), (lambda: pick(rounds_text), 4)]),
    }
    return _Pools(
        lookups,
        municipios[:-1],
        streets,
        people,
        heads,
        dates,
        recent,
        cnae_codes,
        principal,
        secundaria,
        numeros,
        complementos,
        phones,
        emails,
        [c for c, _ in lookups["paises"] if c != "105"],
        {u[0]: u[5].split() for u in _UFS},
        capitals,
    )
