"""Stream a release zip's member into Arrow record batches: latin-1, quoted `;`, quoted newlines, rejects.

The member is inflated and cut into batches of about `batch_bytes` at record boundaries, so memory stays
bounded and every record's physical line number is known (pyarrow does not report it when values may hold
newlines). Each batch is decoded as latin-1, which accepts every byte 0x00-0xFF (RFB_FORMAT.md §3), and parsed
by pyarrow's CSV reader into all-text columns; typing happens later, in sql/. With `empty_as_null` the parser
gives NULL for an empty value ("" in the file), which costs it nothing and spares the transforms a test per value.
"""

from __future__ import annotations

import csv
import io
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from isal import isal_zlib

from .audit import Reject
from .errors import LayoutDriftError, SourceError
from .layout import Family, is_junk_member, recognise
from .unzip import open_member

T = TypeVar("T")


@dataclass(frozen=True)
class Member:
    """The data member of one release zip."""

    zip_path: Path
    member_name: str
    family: Family
    index: int
    size: int  # uncompressed bytes
    compressed_size: int


@dataclass(frozen=True)
class Batch:
    """One slice of a member: its parsed rows, rejects, and where it sits in the member."""

    table: pa.Table
    rejects: tuple[Reject, ...]
    first_line: int
    last_line: int
    bytes_in: int
    records: int  # records read: rows kept + rejects

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)


def find_member(zip_path: Path, family: Family | None = None) -> Member:
    """Open a zip and find its one data member, checking it belongs to `family` when given."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = [i for i in zf.infolist() if not is_junk_member(i.filename)]
    except zipfile.BadZipFile as e:
        raise SourceError(f"not a readable zip ({e}); download it again", path=zip_path.name) from None
    except OSError as e:
        raise SourceError(f"cannot read the file ({e.strerror or e})", path=zip_path.name) from None
    if not infos:
        raise SourceError("the zip holds no data member (only folders or junk like __MACOSX)", path=zip_path.name)
    matches = [(i, recognise(i.filename)) for i in infos]
    known = [(i, r) for i, r in matches if r is not None]
    if family is not None:
        known = [(i, r) for i, r in known if r.family == family]
        if not known and len(infos) == 1:
            # A mirror may rename members; a single member of a recognised zip is taken as that family.
            return _member(zip_path, infos[0], family, 0)
        if not known:
            found = ", ".join(i.filename for i in infos)
            raise SourceError(f"no {family.name} member in the zip (members: {found})", path=zip_path.name)
    if not known:
        found = ", ".join(i.filename for i in infos)
        raise SourceError(f"no CNPJ release member in the zip (members: {found})", path=zip_path.name)
    if len(known) > 1:
        found = ", ".join(i.filename for i, _ in known)
        raise SourceError(f"more than one data member ({found}); expected one", path=zip_path.name)
    info, rec = known[0]
    assert rec is not None
    return _member(zip_path, info, rec.family, rec.index)


def _member(zip_path: Path, info: zipfile.ZipInfo, family: Family, index: int) -> Member:
    return Member(zip_path, info.filename, family, index, info.file_size, info.compress_size)


def _last_boundary(buf: bytes, end: int) -> int:
    """Where the last record that ends before `end` ends: just after its line break; -1 if none.

    A record ends with a closing quote and a line break (LF or CRLF), and the next one starts with a quote.
    A quoted value that is only a line break (`;"\n";`) looks alike, so the quote before the break must not
    follow a `;` and the quote after it must not be followed by one.
    """
    while True:
        pos = buf.rfind(b'\n"', 0, end)
        if pos < 1:
            return -1
        q = pos - 1 if buf[pos - 1] != 0x0D else pos - 2  # 0x0D: the CR of a CRLF line end
        closing = q >= 1 and buf[q] == 0x22 and buf[q - 1] != 0x3B  # '"' not after ';'
        opening_ok = pos + 2 >= len(buf) or buf[pos + 2] != 0x3B
        if closing and opening_ok:
            return pos + 1
        end = pos


def read_slices(stream: io.BufferedIOBase, batch_bytes: int, size: int | None = None) -> Iterator[bytes]:
    """Cut a byte stream into slices that end on a record boundary; the last slice takes the end of the stream.

    The boundary is looked for in the block just read, so that a slice is one copy (what was left over from the
    block before, and this block up to the boundary) and no joined buffer is held beside it (issue 13). Only a
    block with no boundary of its own, or one within its first bytes, is joined to what came before and searched
    whole. `size`, the stream's length when it is known (a zip member's), tells where the last block is without
    holding the next one read ahead while a slice is parsed: 16 MB less per file being read."""
    pending = b""
    got = 0

    def read() -> bytes:
        nonlocal got
        data = stream.read(batch_bytes)
        got += len(data)
        return data

    block: bytes | None = read()
    while block:
        # Without a size, the next block is read ahead to see whether this one is the last; with it, the next is
        # read once this one is used up.
        following = read() if size is None else None
        last = got >= size if size is not None else not following
        if last:
            yield pending + block if pending else block
            return
        out = None
        # A boundary found in the block alone is the one found in pending + block: the look around a break
        # stays inside the block, except for one in its first bytes, which this search rejects.
        cut = _last_boundary(block, len(block))
        if cut >= 0:
            view = memoryview(block)
            out = b"".join((pending, view[:cut]))  # one copy: block[:cut] would be a second one
            pending = bytes(view[cut:])
            del view
        else:
            buf = pending + block if pending else block
            cut = _last_boundary(buf, len(buf))
            if cut < 0 and len(buf) >= 4 * batch_bytes:
                # No quoted boundary in a long stretch (not this dialect): fall back to the last newline.
                cut = buf.rfind(b"\n") + 1
            if cut > 0:
                out, pending = buf[:cut], buf[cut:]
            else:
                pending = buf
            del buf
        block = following
        if out is not None:
            yield out
            del out
        if block is None:
            block = read()
    if pending:  # the stream ended before `size` (a reader that does not check its length): nothing is dropped
        yield pending


class _RejectCollector:
    """The pyarrow invalid-row handler: keeps every bad row (pyarrow may call it from several threads)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, str]] = []
        self.lock = threading.Lock()

    def __call__(self, row: pacsv.InvalidRow) -> str:
        with self.lock:
            self.rows.append((row.expected_columns, row.actual_columns, row.text))
        return "skip"


@dataclass
class MemberParser:
    """Parses the slices of one member into batches, keeping line numbers and rejects."""

    family: Family
    label: str  # zip name, for messages
    empty_as_null: bool = False
    next_line: int = 1
    seen_records: int = 0
    schema: pa.Schema = field(init=False)

    def __post_init__(self) -> None:
        self.schema = pa.schema([(c, pa.string()) for c in self.family.columns])

    def parse(self, data: bytes) -> Batch:
        """Parse one slice that starts and ends on record boundaries."""
        columns = self.family.columns
        collector = _RejectCollector()
        if b"\x00" in data:
            # NUL bytes occur inside Estabelecimentos fields (RFB_FORMAT.md §3) and are never meaningful;
            # Postgres rejects them, so they go here, once, before parsing (line counts are unaffected).
            data = data.replace(b"\x00", b"")
        # pyarrow decodes latin-1 itself (to UTF-8, in its reading thread): 7-13% less parse CPU than handing it
        # bytes decoded to a Python str and encoded again (issue 13). One thread in 1 MB blocks: about 25% less parse
        # CPU than its thread pool in 4 MB blocks (which lexes each block twice to find where rows end), and the
        # other core has the transform, the sort and the writer of this file or the next to do meanwhile.
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(
                column_names=list(columns), use_threads=False, block_size=1 << 20, encoding="latin-1"
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=";",
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                ignore_empty_lines=True,
                invalid_row_handler=collector,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=self.schema,
                null_values=[""],
                strings_can_be_null=self.empty_as_null,
                quoted_strings_can_be_null=self.empty_as_null,
                # What latin-1 decodes to is valid UTF-8 by construction: checking it again cost ~5% of the parse.
                check_utf8=False,
            ),
        )
        first_line = self.next_line
        lines = count_byte(data, 0x0A) + (0 if data.endswith(b"\n") else 1)
        rejects, salvaged = self._locate_rejects(data, first_line, collector.rows)
        table, tail, recovered = self._open_tail(data, first_line, table, rejects)
        if tail is not None:
            rejects.append(tail)
            salvaged.extend(recovered)
        if salvaged:
            # csv's "" where the parser gives NULL
            values: list[list[str | None]] = [[(v or None) if self.empty_as_null else v for v in r] for r in salvaged]
            extra = pa.Table.from_pylist([dict(zip(columns, r, strict=True)) for r in values], schema=self.schema)
            table = pa.concat_tables([table, extra])
        records = table.num_rows + len(rejects)
        if self.seen_records == 0:
            self._check_layout(table.num_rows, collector.rows)
        self.seen_records += records
        self.next_line += lines
        return Batch(table, tuple(rejects), first_line, first_line + lines - 1, len(data), records)

    def _locate_rejects(
        self, data: bytes, first_line: int, bad: list[tuple[int, int, str]]
    ) -> tuple[list[Reject], list[list[str]]]:
        """Give each bad row its physical line; split off valid records an unterminated quote swallowed."""
        rejects: list[tuple[int, Reject]] = []
        salvaged: list[list[str]] = []
        cursor: dict[bytes, int] = {}
        expected = len(self.family.columns)
        for _, actual, raw in bad:
            needle = raw.encode("latin-1", errors="replace")
            pos = _find_record(data, needle, cursor.get(needle, 0))
            if pos < 0:
                pos = _find_record(data, needle, 0)
            cursor[needle] = pos + 1 if pos >= 0 else 0
            line = first_line + data.count(b"\n", 0, pos) if pos >= 0 else None
            head, recovered = _split_open_record(raw, expected)
            if head is not None:
                salvaged.extend(recovered)
                raw = head
                reason = "unterminated_quote: a quoted field is not closed before the end of the line"
            else:
                reason = f"field_count: {actual} fields, expected {expected}"
            rejects.append((pos, Reject(line, reason, raw)))
        rejects.sort(key=lambda pr: pr[0])
        return [r for _, r in rejects], salvaged

    def _open_tail(
        self, data: bytes, first_line: int, table: pa.Table, rejects: list[Reject]
    ) -> tuple[pa.Table, Reject | None, list[list[str]]]:
        """A last record whose quote never closes: pyarrow closes it at the end of the data and keeps it."""
        stop = len(data)
        while stop and data[stop - 1] in b"\r\n":  # the end without its line breaks (rstrip would copy the slice)
            stop -= 1
        if not stop or table.num_rows == 0:
            return table, None, []
        # Every record pyarrow keeps holds an even number of quotes (two per field, plus the doubled ones inside)
        # unless its last quote never closed; the rejects' text is all the rest of the slice. Looking at the last
        # bytes instead cannot tell a quoted `;` (`"";";"`) from an empty field left open (`"a";"`), nor a value
        # holding a line break from a record boundary.
        kept = count_byte(data, 0x22) - sum(r.raw.count('"') for r in rejects)
        if kept % 2 == 0:
            return table, None, []
        end = data[:stop]
        start = _open_record_start(end)
        line = first_line + data.count(b"\n", 0, start)
        raw = end[start:].decode("latin-1")
        head, recovered = _split_open_record(raw, len(self.family.columns))
        if head is not None and recovered:
            # The open quote swallowed the valid records after it, as in _locate_rejects.
            reason = "unterminated_quote: a quoted field is not closed before the end of the line"
            return table.slice(0, table.num_rows - 1), Reject(line, reason, head), recovered
        reason = "unterminated_quote: a quoted field is not closed before the end of the data"
        return table.slice(0, table.num_rows - 1), Reject(line, reason, raw), []

    def _check_layout(self, good: int, bad: list[tuple[int, int, str]]) -> None:
        """Rows that mostly have another column count from the start mean the layout changed."""
        if not bad or len(bad) < good:
            return
        counts = Counter(actual for _, actual, _ in bad)
        actual, _ = counts.most_common(1)[0]
        raise LayoutDriftError(
            f"{len(bad)} of the first {len(bad) + good} records have {actual} fields, but the "
            f"{self.family.name} layout has {len(self.family.columns)} ({';'.join(self.family.columns)}); "
            "the Receita may have changed the layout: check the release's metadata and sql/",
            path=self.label,
        )


def count_byte(data: bytes, byte: int) -> int:
    """How many times `byte` occurs in `data`: a vectorised compare over the bytes in place, 2-3x faster than
    bytes.count on a slice (the line and quote counts were 25% of the parse's CPU besides pyarrow; issue 13)."""
    view = pa.Array.from_buffers(pa.uint8(), len(data), [None, pa.py_buffer(data)])
    return int(pc.equal(view, pa.scalar(byte, pa.uint8())).true_count)


def _open_record_start(data: bytes) -> int:
    """Where the record that leaves a quote open at the end of `data` starts: after the last line break with an
    even number of quotes before it, which is where pyarrow's quote-tracking parser began its last row.

    (_last_boundary's look at the bytes around a break would take a swallowed record's start for it.)
    """
    quotes = data.count(b'"')
    pos = len(data)
    while True:
        nl = data.rfind(b"\n", 0, pos)
        if nl < 0:
            return 0
        quotes -= data.count(b'"', nl, pos)
        if quotes % 2 == 0:
            return nl + 1
        pos = nl


def _find_record(data: bytes, needle: bytes, start: int) -> int:
    """The position of `needle` as a whole record (from the start of a line to its end), or -1."""
    pos = data.find(needle, start)
    while pos >= 0 and not _is_whole_line(data, pos, pos + len(needle)):
        pos = data.find(needle, pos + 1)
    return pos


def _is_whole_line(data: bytes, start: int, end: int) -> bool:
    # A short reject like `""` also matches the start of longer records (`"";""`): it must end where a line ends.
    starts_line = start == 0 or data[start - 1] == 0x0A
    return starts_line and (end == len(data) or data[end] == 0x0A or data[end : end + 2] == b"\r\n")


def _split_open_record(raw: str, expected: int) -> tuple[str | None, list[list[str]]]:
    """A record whose first line leaves a quote open: that line (its line end dropped) and the whole records of
    `expected` fields the open quote swallowed after it, if the rest is exactly that; (None, []) if not open."""
    head, sep, rest = raw.partition("\n")
    if head.count('"') % 2 == 0:
        return None, []
    recovered = _parse_whole_records(rest, expected) if sep else None
    if recovered is None:
        return raw, []
    return head.removesuffix("\r"), recovered


def _parse_whole_records(text: str, expected: int) -> list[list[str]] | None:
    """Parse text as complete records of `expected` fields each, or None if any is not."""
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=";", quotechar='"', strict=True))
    except csv.Error:
        return None
    rows = [r for r in rows if r]
    if not rows or any(len(r) != expected for r in rows):
        return None
    return rows


@dataclass(frozen=True)
class BatchFailure:
    """The error that stopped a member, and the line where the failing batch starts."""

    first_line: int
    error: Exception


def iter_member(member: Member, batch_bytes: int, empty_as_null: bool = False) -> Iterator[Batch | BatchFailure]:
    """Inflate and parse a member batch by batch; an error ends the stream as a BatchFailure item."""
    parser = MemberParser(member.family, member.zip_path.name, empty_as_null)
    name = member.zip_path.name
    try:
        with zipfile.ZipFile(member.zip_path) as zf, open_member(zf, member.member_name) as stream:
            for data in read_slices(stream, batch_bytes, member.size):
                batch = parser.parse(data)
                del data  # not held while the batch waits for its consumer
                yield batch
    except zipfile.BadZipFile as e:
        yield BatchFailure(
            parser.next_line, SourceError(f"corrupt data in {member.member_name} ({e}); download it again", path=name)
        )
    # isal's stub declares isal_zlib.error as an Exception instance; at run time it is the exception class.
    except (isal_zlib.error, EOFError) as e:  # type: ignore[misc]
        yield BatchFailure(
            parser.next_line,
            SourceError(f"cannot inflate {member.member_name} ({e}); the zip is damaged, download it again", path=name),
        )
    except OSError as e:
        yield BatchFailure(parser.next_line, SourceError(f"cannot read the file ({e})", path=name))
    except (NotImplementedError, RuntimeError) as e:  # open_member: Deflate64, encryption, ...
        yield BatchFailure(
            parser.next_line,
            SourceError(f"unsupported zip ({e}); re-zip it with plain Deflate or download it again", path=name),
        )
    except Exception as e:
        yield BatchFailure(parser.next_line, e)
