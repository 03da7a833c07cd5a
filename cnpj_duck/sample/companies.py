"""Companies of the sample: who exists, and how many rows each one has in each family.

Company i's profile is a hash of (seed, i), so any process writing any file agrees on it.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass
from operator import mul

from cnpj_duck.cnpj import check_digits as cnpj_check_digits  # the rule lookups check: one copy
from cnpj_duck.layout import FAMILIES

# Rows of the real release at scale 1 (§1). Empresas is scaled directly; the other big families follow from
# per-company counts whose means give these ratios. Lookups are always written at their real sizes.
REAL_ROWS = {"empresas": 57_600_000, "estabelecimentos": 66_000_000, "socios": 24_000_000, "simples": 39_000_000}

_FILE0_WEIGHT = 3.8  # file 0 of a split family holds ~3.8x the rows of each of files 1-9 (§1)
_SHOWCASE = 48  # companies 0..47 (start of file 0) have one row per family and carry the forced quirks
_MIN_FILE0, _MIN_FILE = 64, 6
_ALNUM_FROM, _ALNUM_SHARE_PER_MONTH = "2026-07", 0.005  # alphanumeric CNPJs are issued from July 2026 (§5)


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
    return (
        _basico(plan, i),
        kind,
        _ESTAB_N[bisect(_ESTAB_CUM, (h >> 16 & 0xFFFF) / 65536)],
        _SOCIO_N[bisect(_SOCIO_CUM, u / partners)] if u < partners else 0,
        (h >> 48) / 65536 < _KINDS[kind].simples,
    )


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
