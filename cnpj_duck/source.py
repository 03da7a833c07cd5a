"""The release folder of zips to build: which month, which zips, which family each is, and what is missing.

Also the embedded sample release, generated on first use.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .config import Config
from .errors import SourceError, UsageError
from .ingest import find_member
from .layout import FAMILIES, Family, list_zip_paths, recognise, release_from_text


@dataclass
class SourceFile:
    """A zip of the release folder, matched to its family."""

    path: Path
    family: Family
    index: int
    problem: str | None = None  # set when the file must fail without being read (e.g. a duplicate)


@dataclass
class ReleaseFolder:
    release: str
    folder: Path
    files: list[SourceFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def resolve_release(config: Config, release: str | None, source: Path | None) -> tuple[str, Path]:
    """Find the release month and the folder of zips to build."""
    wanted = release or config.release
    if source is not None:
        if not source.is_dir():
            raise UsageError(f"{source}: no such folder; pass --source a folder of release zips")
        if wanted == "latest":
            inferred = release_from_text(str(source.resolve()))
            if inferred is None:
                raise UsageError(
                    f"{source}: cannot tell the release month from the folder name; pass --release YYYY-MM"
                )
            wanted = inferred
        return wanted, source
    raw = config.data_dir / "raw"
    if wanted == "latest":
        months = sorted(p.name for p in raw.glob("*") if p.is_dir() and release_from_text(p.name) == p.name)
        months = [m for m in months if any((raw / m).glob("*.zip"))]
        if not months:
            raise UsageError(
                f"{raw}: no release folder with zips (raw/YYYY-MM/); run `cnpj-duck sample` or pass --source DIR"
            )
        wanted = months[-1]
    folder = raw / wanted
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such release folder; download it first or pass --source DIR")
    return wanted, folder


def scan_release(release: str, folder: Path) -> ReleaseFolder:
    """Match every zip to its family; report unexpected files, duplicates and missing files."""
    scan = ReleaseFolder(release, folder)
    zips, others = list_zip_paths(folder)
    for other in others:
        scan.warnings.append(
            f"{other.name}: unexpected {'folder' if other.is_dir() else 'file'} in the release "
            "folder (not a zip); ignored"
        )
    seen: dict[tuple[str, int], Path] = {}
    for path in zips:
        rec = recognise(path.name)
        if rec is None:
            try:
                member = find_member(path)
            except SourceError as e:
                scan.warnings.append(f"{e}; not part of the build")
                continue
            family, index = member.family, member.index
        else:
            family, index = rec.family, rec.index
        file = SourceFile(path, family, index)
        key = (family.name, index)
        if key in seen:
            file.problem = f"same file of {family.name} as {seen[key].name}; keep one of them in the folder"
        else:
            seen[key] = path
        scan.files.append(file)
    missing = [f.zip_name(i) for f in FAMILIES.values() for i in range(f.file_count) if (f.name, i) not in seen]
    if missing:
        scan.warnings.append(
            f"{len(missing)} of the 37 release files are missing: {', '.join(missing)}; building what is there"
        )
    scan.files.sort(key=lambda f: (f.family.name, f.index))
    return scan


def member_size(path: Path) -> int:
    """Uncompressed size of a zip's data member (0 when it cannot be read: the file fails later, loudly)."""
    try:
        return find_member(path).size
    except SourceError:
        return 0


SAMPLE_RELEASE = "2026-10"
SAMPLE_SCALE = 0.0002  # ~11.5k empresas, ~13k estabelecimentos, every quirk: builds in a couple of seconds
SAMPLE_SEED = 0


def sample_release(data_dir: Path) -> Path:
    """The embedded sample release, generated on first use into <data_dir>/sample/ (deterministic)."""
    from .sample import generate_release

    root = data_dir / "sample"
    folder = root / SAMPLE_RELEASE
    if len(list(folder.glob("*.zip"))) == 37:
        return folder
    scratch = root / ".generating"
    shutil.rmtree(scratch, ignore_errors=True)
    manifest = generate_release(scratch, release=SAMPLE_RELEASE, scale=SAMPLE_SCALE, seed=SAMPLE_SEED, workers=1)
    shutil.rmtree(folder, ignore_errors=True)
    manifest.folder.rename(folder)  # appears complete or not at all
    shutil.rmtree(scratch, ignore_errors=True)
    return folder
