"""The explicit ISA-L inflate (cnpj_duck.unzip) and issue 11's "no import-time side effects": real zips, no mocks."""

from __future__ import annotations

import importlib
import io
import json
import os
import pkgutil
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest
from isal import isal_zlib

import cnpj_duck
from cnpj_duck.build import build
from cnpj_duck.download import verify_zip
from cnpj_duck.sample import generate_release
from cnpj_duck.unzip import open_member

from .conftest import REAL_SAMPLES

MEMBER = "K3241.K03200Y0.D61011.EMPRECSV"
DATA = b"".join(f'"{i:08d}";"EMPRESA {i} LTDA";"2062";"49";"1000,00";"01";""\n'.encode() for i in range(20_000))


def read_all(zf: zipfile.ZipFile, info: zipfile.ZipInfo, size: int = -1) -> bytes:
    with open_member(zf, info) as stream:
        parts = []
        while part := stream.read(size):
            parts.append(part)
            if size < 0:
                break
        assert stream.read(size) == b""  # the end stays the end
    return b"".join(parts)


def same_as_stdlib(path: Path) -> int:
    """Read every member of a zip with open_member (whole and in odd pieces) and with zipfile; count members."""
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            want = zf.read(info)
            assert read_all(zf, info) == want, (path.name, info.filename)
            assert read_all(zf, info, 65_537) == want, (path.name, info.filename)
        return len(zf.infolist())


def one_member_zip(
    path: Path,
    data: bytes = DATA,
    method: int = zipfile.ZIP_DEFLATED,
    level: int | None = None,
    zip64: bool = False,
    descriptor: bool = False,
) -> Path:
    """A one-member zip; `descriptor` writes through an unseekable stream, so sizes and CRC follow the data.

    `zip64` writes the sizes in zip64 extra fields, in the local header and the central directory alike, as a
    zip of a member over 4 GiB has them (the stdlib writes the directory's only past its limit: lowered here).
    """
    raw = io.BytesIO()

    class Unseekable(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: bytes) -> int:  # type: ignore[override]
            return raw.write(b)

    target = Unseekable() if descriptor else raw
    limit = zipfile.ZIP64_LIMIT
    zipfile.ZIP64_LIMIT = 100 if zip64 else limit  # type: ignore[attr-defined]
    try:
        with (
            zipfile.ZipFile(target, "w", compression=method, compresslevel=level) as zf,
            zf.open(MEMBER, "w", force_zip64=zip64) as fh,
        ):
            fh.write(data)
    finally:
        zipfile.ZIP64_LIMIT = limit  # type: ignore[attr-defined]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.getvalue())
    return path


def patch_headers(
    path: Path, *, method: int | None = None, flags: int | None = None, file_size: int | None = None
) -> None:
    """Rewrite fields of the (single) member's local and central headers, as a foreign zip tool would write them."""
    raw = bytearray(path.read_bytes())
    local, central = raw.find(b"PK\x03\x04"), raw.find(b"PK\x01\x02")
    for start, at in ((local, 0), (central, 2)):  # the central header has one more 2-byte field before these
        if flags is not None:
            struct.pack_into("<H", raw, start + 6 + at, flags)
        if method is not None:
            struct.pack_into("<H", raw, start + 8 + at, method)
        if file_size is not None:
            struct.pack_into("<L", raw, start + 22 + at, file_size)
    path.write_bytes(bytes(raw))


# --- the same bytes as zipfile ---------------------------------------------------------------------------------


def test_reads_the_same_bytes_as_zipfile_on_the_real_sample_zips():
    paths = sorted(REAL_SAMPLES.rglob("*.zip"))
    assert len(paths) == 25
    assert sum(same_as_stdlib(p) for p in paths) >= 25
    methods = set()
    for path in paths:
        with zipfile.ZipFile(path) as zf:
            methods |= {i.compress_type for i in zf.infolist()}
    assert methods == {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}  # real STORED members are among them


@pytest.mark.slow  # a generated release read twice, seconds
def test_reads_the_same_bytes_as_zipfile_on_a_generated_release(tmp_path):
    manifest = generate_release(tmp_path, scale=0.0001, seed=5)
    paths = sorted(manifest.folder.glob("*.zip"))
    assert len(paths) == 37 and sum(same_as_stdlib(p) for p in paths) == 37


@pytest.mark.parametrize("kind", ["stored", "deflated", "zip64", "data_descriptor", "zip64_data_descriptor", "empty"])
def test_reads_stored_deflated_zip64_and_data_descriptor_members(tmp_path, kind):
    method = zipfile.ZIP_STORED if kind == "stored" else zipfile.ZIP_DEFLATED
    path = one_member_zip(
        tmp_path / "Empresas0.zip",
        b"" if kind == "empty" else DATA,
        method,
        zip64="zip64" in kind,
        descriptor="descriptor" in kind,
    )
    with zipfile.ZipFile(path) as zf:
        (info,) = zf.infolist()
        assert (info.compress_type, info.file_size) == (method, 0 if kind == "empty" else len(DATA))
        assert bool(info.flag_bits & 0x08) == ("descriptor" in kind)
        assert (info.extra[:2] == b"\x01\x00") == ("zip64" in kind)  # header id 1: the zip64 extra field
    assert same_as_stdlib(path) == 1
    assert verify_zip(path) is None


# --- damaged and unsupported zips: the errors zipfile gave, and one line through build and download -------------


@pytest.mark.slow  # a generated zip read whole, about 1 s each
@pytest.mark.parametrize("method, level", [(zipfile.ZIP_STORED, None), (zipfile.ZIP_DEFLATED, 0)])
def test_a_flipped_byte_in_a_member_is_a_crc_error(tmp_path, config, method, level):
    # Deflate level 0 keeps the bytes in stored deflate blocks, so a flipped byte changes the data, not the codes.
    path = one_member_zip(tmp_path / "2026-10" / "Empresas0.zip", DATA, method, level)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as zf, pytest.raises(zipfile.BadZipFile, match=f"Bad CRC-32 for file '{MEMBER}'"):
        read_all(zf, zf.infolist()[0], 1 << 20)
    assert verify_zip(path) == f"damaged zip (BadZipFile: Bad CRC-32 for file '{MEMBER}')"
    (emp,) = [t for t in build(config, source=path.parent).tables if t.name == "empresas"]
    assert emp.status == "failed"
    assert emp.error.startswith("Empresas0.zip: corrupt data in ") and "Bad CRC-32" in emp.error
    assert emp.error.endswith("download it again") and "\n" not in emp.error


def test_damaged_deflate_codes_are_an_inflate_error(tmp_path, config):
    path = one_member_zip(tmp_path / "2026-10" / "Empresas0.zip", DATA)
    raw = bytearray(path.read_bytes())
    start = raw.find(b"PK\x03\x04") + 30 + len(MEMBER)
    raw[start : start + 64] = b"\xff" * 64  # not a valid deflate stream
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as zf, pytest.raises(isal_zlib.error):
        read_all(zf, zf.infolist()[0])
    assert verify_zip(path) == "damaged zip (IsalError: Error -1 Invalid deflate block found)"
    (emp,) = [t for t in build(config, source=path.parent).tables if t.name == "empresas"]
    assert emp.status == "failed" and emp.error == (
        f"Empresas0.zip: cannot inflate {MEMBER} (Error -1 Invalid deflate block found); the zip is damaged, "
        "download it again"
    )


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_member_shorter_than_its_directory_entry_says_is_an_error(tmp_path, method):
    path = one_member_zip(tmp_path / "Empresas0.zip", DATA, method)
    patch_headers(path, file_size=len(DATA) + 10)
    with zipfile.ZipFile(path) as zf, pytest.raises(zipfile.BadZipFile, match=f"of its {len(DATA) + 10:,} bytes"):
        read_all(zf, zf.infolist()[0])


def test_a_truncated_zip_is_not_a_readable_zip(tmp_path, config):
    path = one_member_zip(tmp_path / "2026-10" / "Empresas0.zip", DATA)
    path.write_bytes(path.read_bytes()[:-100])  # the end of central directory record is gone
    assert verify_zip(path).startswith("damaged zip (BadZipFile: ")
    (emp,) = [t for t in build(config, source=path.parent).tables if t.name == "empresas"]
    assert emp.status == "failed" and emp.error.startswith("Empresas0.zip: not a readable zip")


@pytest.mark.parametrize(
    "patch, message, error",
    [
        ({"method": 9}, "compression type 9 (deflate64)", NotImplementedError),
        ({"flags": 0x01}, f"File '{MEMBER}' is encrypted, password required for extraction", RuntimeError),
    ],
)
def test_deflate64_and_encrypted_members_are_unsupported_with_one_line(tmp_path, config, patch, message, error):
    path = one_member_zip(tmp_path / "2026-10" / "Empresas0.zip", DATA)
    patch_headers(path, **patch)
    with zipfile.ZipFile(path) as zf, pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        open_member(zf, zf.infolist()[0])
    assert verify_zip(path) == f"damaged zip ({error.__name__}: {message})"
    (emp,) = [t for t in build(config, source=path.parent).tables if t.name == "empresas"]
    assert emp.status == "failed"
    assert emp.error == (
        f"Empresas0.zip: unsupported zip ({message}); re-zip it with plain Deflate or download it again"
    )


def test_a_reader_closes_its_own_file_handle(tmp_path):
    path = one_member_zip(tmp_path / "Empresas0.zip", DATA)
    with zipfile.ZipFile(path) as zf:
        stream = open_member(zf, MEMBER)
        assert stream.read(10) == DATA[:10]
        stream.close()
        with pytest.raises(ValueError, match="closed file"):
            stream.read(10)
        assert zf.read(MEMBER) == DATA  # the zip's own handle is untouched


# --- no import-time side effects (issue 11) ---------------------------------------------------------------------


def test_importing_every_module_leaves_zipfile_on_the_stdlib_zlib():
    names = [
        m.name for m in pkgutil.walk_packages(cnpj_duck.__path__, "cnpj_duck.") if not m.name.endswith(".__main__")
    ]  # a script: importing it runs it
    assert {"cnpj_duck.ingest", "cnpj_duck.download", "cnpj_duck.unzip", "cnpj_duck.sample"} <= set(names)
    for name in names:
        importlib.import_module(name)
    assert zipfile.zlib is zlib


# A fresh interpreter: in this one the modules are imported already, so a patch made at import time would have
# been made before either command ran. `sample` goes first, before anything imports ingest, as on the command line.
_BOTH_COMMANDS = """
import hashlib, json, sys
from pathlib import Path
from click.testing import CliRunner
from cnpj_duck.cli import cli

root = Path(sys.argv[1])
runner = CliRunner()
args = ["--release", "2026-10", "--scale", "0.0002", "--seed", "0", "--workers", "1"]
res = runner.invoke(cli, ["--data-dir", str(root / "a"), "sample", *args, "--out", str(root / "out")])
assert res.exit_code == 0, res.output
res = runner.invoke(cli, ["--data-dir", str(root / "b"), "build", "--sample", "--no-progress"])
assert res.exit_code == 0, res.output
folders = {"sample": root / "out" / "2026-10", "build": root / "b" / "sample" / "2026-10"}
print(json.dumps({name: {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.zip")}
                  for name, folder in folders.items()}))
"""


@pytest.mark.slow
def test_build_sample_and_the_sample_command_write_the_same_bytes_in_one_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNPJ_DUCK_")}
    done = subprocess.run(
        [sys.executable, "-c", _BOTH_COMMANDS, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    hashes = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(hashes["sample"]) == 37
    assert hashes["sample"] == hashes["build"]
