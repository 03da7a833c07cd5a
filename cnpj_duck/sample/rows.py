"""Row makers: the fields of each family's records, company by company."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, TypeVar

from cnpj_duck.cnpj import check_digits as cnpj_check_digits

from .companies import _KINDS, _company, _cpf, _full_cnpj, _masked_cpf, _ordem, _Plan
from .vocabulary import _ACTIVITIES, _FANCY, _MALE, _SAINTS, _UFS, _Pools

# ---------------------------------------------------------------------------------------------------------
# Rows. Each builder yields the fields of one record at a time, in company order (real files are not sorted).


def _expand(items: Iterable[tuple[str, int]]) -> tuple[str, ...]:
    """Each value repeated `weight` times, so that a uniform draw is a weighted draw."""
    return tuple(v for v, w in items for _ in range(w))


_SITUACOES = _expand([("02", 90), ("08", 92), ("04", 15), ("03", 1), ("01", 2)])  # mostly 02 and 08 (§5)
_SIZE_CLASS = {"person": "person", "ltda": "company", "eireli": "company", "sa": "big", "coop": "big"}
_PORTES = {
    "person": _expand([("01", 93), ("05", 3), ("00", 4)]),  # 00/01/03/05 as the data writes them (§5)
    "company": _expand([("01", 60), ("03", 12), ("05", 25), ("00", 3)]),
    "big": _expand([("05", 85), ("03", 5), ("00", 10)]),
    "none": _expand([("05", 80), ("00", 20)]),
}
_FAIXAS = _expand([("1", 2), ("2", 3), ("3", 10), ("4", 17), ("5", 20), ("6", 18), ("7", 14), ("8", 10), ("9", 6)])
_LTDA_SUFFIX = _expand([("LTDA", 70), ("LTDA ME", 10), ("LTDA - ME", 5), ("LTDA EPP", 5), ("LIMITADA", 3), ("ME", 5)])
_SPECIAL = ("RECUPERACAO JUDICIAL", "FALIDO", "EM LIQUIDACAO", "LIQUIDACAO JUDICIAL", "INTERVENCAO")
_FOREIGN_CITIES = (
    "MIAMI",
    "LISBOA",
    "PORTO",
    "BUENOS AIRES",
    "NEW YORK",
    "MADRID",
    "MILANO",
    "TOKYO",
    "ZURICH",
    "ORLANDO",
    "MONTEVIDEO",
    "LUANDA",
    "PARIS",
    "TORONTO",
    "SHANGHAI",
    "LONDON",
)
_FOREIGN_SURNAMES = ("SMITH", "MULLER", "ROSSI", "GARCIA", "TANAKA", "DUBOIS", "SILVEIRA")
_NAMES = {  # razao_social by style: (prefixes, words after the prefix)
    "coop": (("COOPERATIVA DE CREDITO", "COOPERATIVA AGROPECUARIA", "COOPERATIVA DE TRABALHO"), _FANCY),
    "association": (
        (
            "ASSOCIACAO DOS MORADORES DO BAIRRO",
            "ASSOCIACAO DE PAIS E MESTRES DA ESCOLA",
            "ASSOCIACAO COMUNITARIA",
            "ASSOCIACAO DOS PRODUTORES RURAIS DE",
        ),
        _SAINTS,
    ),
    "religious": (("IGREJA EVANGELICA", "IGREJA BATISTA", "IGREJA ASSEMBLEIA DE DEUS", "IGREJA PENTECOSTAL"), _FANCY),
    "municipal": (
        ("MUNICIPIO DE", "FUNDO MUNICIPAL DE SAUDE DE", "CAMARA MUNICIPAL DE", "SECRETARIA MUNICIPAL DE EDUCACAO DE"),
        (),
    ),
    "state": (("SECRETARIA DE ESTADO DA FAZENDA -", "POLICIA MILITAR DO ESTADO -", "FUNDO ESTADUAL DE SAUDE -"), ()),
    "federal": (("MINISTERIO DA FAZENDA -", "SUPERINTENDENCIA REGIONAL -", "DELEGACIA DA RECEITA -"), ()),
}
_STATE_NAMES = {u[0]: u[1] for u in _UFS}


_T = TypeVar("_T")


class _Pick(Protocol):
    def __call__(self, pool: Sequence[_T], /) -> _T: ...


def _picker(rng: random.Random) -> _Pick:
    rnd = rng.random

    def pick(pool: Sequence[_T], /) -> _T:
        return pool[int(rnd() * len(pool))]  # cheaper than rng.choice, and as deterministic

    return pick


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
    motivos = {
        "02": ("00",),
        "08": ("01",) * 17 + tuple(codes[2:5]),
        "04": tuple(codes[5:8]),
        "03": tuple(codes[8:10]),
        "01": tuple(codes[10:12]),
    }
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
                basico,
                ordem,
                cnpj_check_digits(basico + ordem),
                "1" if n == 0 else "2",
                "" if rnd() < 0.55 else f"{pick(_FANCY)} {pick(_ACTIVITIES)}",
                situacao,
                data_situacao,
                pick(motivos[situacao]),
                "",
                "105" if rnd() < 0.03 else "",
                inicio,
                pick(p.cnae_principal),
                pick(p.cnae_secundaria),
                tipo,
                logradouro,
                pick(p.numeros),
                pick(p.complementos),
                bairro,
                cep,
                uf,
                municipio,
                ddd_1,
                tel_1,
                ddd_2,
                tel_2,
                ddd_fax,
                fax,
                "" if rnd() < 0.55 else pick(p.emails),
                special,
                pick(p.dates) if special else "",
            ]


def _socio_rows(p: _Pools, plan: _Plan, rng: random.Random, companies: range) -> Iterator[list[str]]:
    rnd, pick = rng.random, _picker(rng)
    quals = {
        "ltda": ("49",) * 6 + ("22",) * 4,
        "eireli": ("65",),
        "sa": ("10", "10", "05", "16"),
        "coop": ("16", "10", "05"),
        "association": ("16", "16", "10", "05"),
    }
    for i in companies:
        basico, k, _, n_socios, _ = _company(plan, i)
        style = _KINDS[k].style
        for _ in range(n_socios):
            u, pais = rnd(), ""
            if u < 0.88:  # pessoa fisica: masked CPF
                ident, name, doc, qual = "2", pick(p.people), _masked_cpf(rnd), pick(quals.get(style, ("49",)))
                age, pais = pick(_FAIXAS), "105" if rnd() < 0.01 else ""
            elif u < 0.98:  # pessoa juridica: another company's full CNPJ
                ident, name, doc, qual, age = (
                    "1",
                    f"{pick(p.heads)} {pick(_LTDA_SUFFIX)}",
                    _full_cnpj(plan, int(rnd() * plan.total)),
                    "22",
                    "0",
                )
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


_ROWS = {
    "empresas": _empresa_rows,
    "estabelecimentos": _estabelecimento_rows,
    "socios": _socio_rows,
    "simples": _simples_rows,
}
