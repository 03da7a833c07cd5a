"""Writing the sample: one zip per file with the real names, its member streamed in latin-1 chunks."""

from __future__ import annotations

import random
import zipfile
from bisect import bisect
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cnpj_duck.layout import FAMILIES, extraction_tag, is_valid_release

from .companies import _SHOWCASE, _Plan, _plan
from .quirks import (
    _COL,
    _FORCED,
    _KEY_COLUMNS,
    _RANDOM,
    MALFORMED_KINDS,
    MalformedRecord,
    QuirkRecord,
    _apply,
    _malformed_text,
    _text,
)
from .rows import _ROWS
from .vocabulary import _Pools, _pools

_DEFLATE_LEVEL = 1  # ~150 MB/s with stdlib zlib, and a ratio near the real files' (about 3x)
_CHUNK_RECORDS = 4096
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


class _Writer:
    """Buffers the records of one zip member into latin-1 chunks, counting records and physical lines."""

    def __init__(self, fh: IO[bytes], family: str, zip_name: str, member_name: str) -> None:
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
    # No public setter before Python 3.13 (compress_level); typeshed declares only that new name, not the 3.11 one.
    info._compresslevel = _DEFLATE_LEVEL  # type: ignore[attr-defined]
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
    stats = FileStats(
        zip_name, member_name, name, index, w.records, len(w.malformed), w.line - 1, info.file_size, path.stat().st_size
    )
    return stats, w.malformed, w.quirks


def _cost(task: _Task) -> float:
    """Rough relative build time, so that the biggest files start first in the pool."""
    _, release, scale, seed, name, index = task
    per_company = {"estabelecimentos": 3.0, "empresas": 1.0, "socios": 0.5, "simples": 0.6}.get(name, 0.0)
    return per_company * len(_plan(release, scale, seed).companies(name, index))


def generate_release(
    out_dir: Path,
    release: str = "2026-10",
    scale: float = 0.0002,
    seed: int = 0,
    workers: int = 1,
    families: Iterable[str] | None = None,
) -> SampleManifest:
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
    tasks = [
        (folder, release, float(scale), seed, name, i)
        for name, family in FAMILIES.items()
        if name in names
        for i in range(family.file_count)
    ]
    if workers > 1 and len(tasks) > 1:
        biggest_first = sorted(tasks, key=_cost, reverse=True)
        with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
            done = dict(zip(biggest_first, pool.map(_write_file, biggest_first), strict=True))
        results = [done[t] for t in tasks]
    else:
        results = [_write_file(t) for t in tasks]
    return SampleManifest(
        release,
        float(scale),
        seed,
        folder,
        tuple(stats for stats, _, _ in results),
        tuple(m for _, malformed, _ in results for m in malformed),
        tuple(q for _, _, quirks in results for q in quirks),
    )
