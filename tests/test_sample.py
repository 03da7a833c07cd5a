"""The sample-release generator: real zips in tmp_path, read back with the csv module (no mocks)."""

from __future__ import annotations

import csv
import itertools
import re
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from cnpj_duck.layout import FAMILIES, extraction_tag, recognise
from cnpj_duck.sample import (
    LOOKUP_SIZES,
    MALFORMED_KINDS,
    ORPHAN_CODES,
    REAL_ROWS,
    SampleManifest,
    generate_release,
)

SCALE = 0.0002  # 11,520 companies: enough rows for ratios, built in about a second
BIG = ("empresas", "estabelecimentos", "socios", "simples")
Record = tuple[int, list[str] | None, str]  # first physical line, fields (None: a strict parser gave up), raw text


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> SampleManifest:
    return generate_release(tmp_path_factory.mktemp("build"), scale=SCALE, seed=3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> SampleManifest:
    return generate_release(tmp_path_factory.mktemp("tiny"), scale=0)  # the smallest sample there is


_CACHE: dict[Path, list[Record]] = {}


def member_text(path: Path) -> str:
    with zipfile.ZipFile(path) as zf:
        (info,) = zf.infolist()
        return zf.read(info).decode("latin-1")


def records(path: Path) -> list[Record]:
    """Every record of a zip, read strictly: after a record it cannot parse, the reader resumes on the next line."""
    if path in _CACHE:
        return _CACHE[path]
    lines = member_text(path).split("\n")  # not splitlines(): that also breaks on 0x85 and other C1 bytes
    assert lines.pop() == "", "the member must end with LF"
    lines = [line + "\n" for line in lines]
    out: list[Record] = []
    start = 0
    while start < len(lines):
        reader = csv.reader(itertools.islice(lines, start, None), delimiter=";", strict=True)
        done = 0  # lines consumed by the records read so far
        try:
            for row in reader:
                out.append((start + done + 1, row, "".join(lines[start + done : start + reader.line_num])))
                done = reader.line_num
        except csv.Error:
            out.append((start + done + 1, None, lines[start + done]))
            start += done + 1
            continue
        break
    _CACHE[path] = out
    return out


def rows(manifest: SampleManifest, family: str) -> list[list[str]]:
    """The well-formed rows of a family, over all its files."""
    width = len(FAMILIES[family].columns)
    return [
        fields
        for f in manifest.files
        if f.family == family
        for _, fields, _ in records(manifest.folder / f.zip_name)
        if fields is not None and len(fields) == width
    ]


def check_digits(first12: str) -> str:
    """RFB_FORMAT.md §5, written again here so that the generator is checked against the rule, not itself."""
    values = [ord(c) - 48 for c in first12]
    digits = ""
    for weights in ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)):
        r = sum(w * v for w, v in zip(weights, values + [int(d) for d in digits], strict=True)) % 11
        digits += str(0 if r < 2 else 11 - r)
    return digits


def test_check_digit_rule_matches_real_cnpjs() -> None:
    assert check_digits("336831110001") == "07"  # SERPRO, from the real samples
    assert check_digits("191312430001") == "97"
    assert check_digits("12ABC34501DE") == "35"  # the Receita's alphanumeric example


def test_writes_the_37_zips_with_real_names(build: SampleManifest) -> None:
    tag = extraction_tag("2026-10")
    expected = {f.zip_name(i): f.member_name(tag, i) for f in FAMILIES.values() for i in range(f.file_count)}
    assert len(expected) == 37
    assert {p.name for p in build.folder.iterdir()} == set(expected)
    assert build.folder.name == "2026-10"
    assert "F.K03200$W.SIMPLES.CSV.D61011" in expected.values()
    for zip_name, member in expected.items():
        with zipfile.ZipFile(build.folder / zip_name) as zf:
            (info,) = zf.infolist()
        assert info.filename == member
        assert recognise(zip_name) == recognise(member)
        assert info.date_time == (2026, 10, 11, 10, 30, 0)
        stored = zip_name == "Motivos.zip"  # real releases have STORED members
        assert info.compress_type == (zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
    stats = {f.zip_name: f for f in build.files}
    assert set(stats) == set(expected)
    assert all(f.zipped_bytes == (build.folder / f.zip_name).stat().st_size for f in build.files)


@pytest.mark.slow  # releases generated twice, seconds
def test_same_arguments_give_the_same_bytes(tmp_path: Path, build: SampleManifest, tiny: SampleManifest) -> None:
    again = generate_release(tmp_path / "again", scale=SCALE, seed=3, workers=2)
    for f in build.files:
        assert (again.folder / f.zip_name).read_bytes() == (build.folder / f.zip_name).read_bytes(), f.zip_name
    assert (again.files, again.malformed, again.quirks) == (build.files, build.malformed, build.quirks)
    twice = generate_release(tmp_path / "twice", scale=0, workers=1, families=BIG)
    for f in twice.files:
        assert (twice.folder / f.zip_name).read_bytes() == (tiny.folder / f.zip_name).read_bytes(), f.zip_name
    other = generate_release(tmp_path / "other", scale=0, seed=1, families=["empresas"])
    assert (other.folder / "Empresas1.zip").read_bytes() != (tiny.folder / "Empresas1.zip").read_bytes()


@pytest.mark.parametrize("fixture", ["build", "tiny"])
def test_dialect_and_malformed_records(fixture: str, request: pytest.FixtureRequest) -> None:
    manifest: SampleManifest = request.getfixturevalue(fixture)
    listed = {(m.zip_name, m.line): m for m in manifest.malformed}
    found = {}
    for f in manifest.files:
        text = member_text(manifest.folder / f.zip_name)
        assert "\r" not in text and text.endswith(('"\n', '"\n\n'))
        width = len(FAMILIES[f.family].columns)
        recs = records(manifest.folder / f.zip_name)
        blank = [line for line, fields, _ in recs if fields == []]
        assert blank in ([], [f.physical_lines]), "only the last line may be blank"
        assert text.count("\n") == f.physical_lines
        assert len(recs) - len(blank) == f.records
        for line, fields, raw in recs:
            if fields == []:
                continue
            if fields is None or len(fields) != width:
                found[(f.zip_name, line)] = (
                    "unterminated_quote"
                    if fields is None
                    else ("extra_field" if len(fields) > width else "missing_field")
                )
                assert raw == listed[(f.zip_name, line)].text + "\n"
            else:  # every field double-quoted, `;` between, LF at the end
                assert raw == '"' + '";"'.join(fields) + '"\n', (f.zip_name, line)
        assert sum(z == f.zip_name for z, _ in found) == f.malformed
    assert found == {key: m.kind for key, m in listed.items()}
    for family in ("empresas", "estabelecimentos", "socios"):
        kinds = {m.kind for m in manifest.malformed if m.zip_name == FAMILIES[family].zip_name(0)}
        assert kinds == set(MALFORMED_KINDS)


def test_the_line_after_an_open_quote_is_a_valid_record(build: SampleManifest) -> None:
    for m in build.malformed:
        if m.kind != "unterminated_quote":
            continue
        assert m.text.count('"') % 2 == 1, "the last quote never closes"
        following = [fields for line, fields, _ in records(build.folder / m.zip_name) if line == m.line + 1]
        assert following and len(following[0]) == len(FAMILIES[m.family].columns)


def test_expected_rows_counts_what_a_strict_parser_keeps(build: SampleManifest) -> None:
    for family in FAMILIES:
        assert len(rows(build, family)) == build.expected_rows(family)


def test_row_counts_follow_the_scale(build: SampleManifest) -> None:
    companies = {r[0] for r in rows(build, "empresas")}
    assert abs(len(companies) - REAL_ROWS["empresas"] * SCALE) < 30  # a few malformed rows are not counted
    for family, tolerance in (("estabelecimentos", 0.04), ("socios", 0.08), ("simples", 0.04)):
        ratio = build.expected_rows(family) / build.expected_rows("empresas")
        assert ratio == pytest.approx(REAL_ROWS[family] / REAL_ROWS["empresas"], rel=tolerance), family
    for family in ("empresas", "estabelecimentos", "socios"):
        sizes = [f.records for f in build.files if f.family == family]
        assert sizes[0] / (sum(sizes[1:]) / 9) == pytest.approx(3.8, rel=0.12), family
    for f in build.files:
        if f.family in LOOKUP_SIZES:
            assert f.records == LOOKUP_SIZES[f.family]
    total = sum(f.uncompressed_bytes for f in build.files if f.family in BIG)
    assert 2.2 < total / sum(f.zipped_bytes for f in build.files if f.family in BIG) < 4.5  # real zips: ~3x


def test_keys_agree_across_tables(build: SampleManifest) -> None:
    empresas = {r[0] for r in rows(build, "empresas")}
    empresas |= {m.text[1:9] for m in build.malformed if m.family == "empresas"}  # rejected, yet in the file
    for family in ("estabelecimentos", "socios", "simples"):
        assert {r[0] for r in rows(build, family)} <= empresas, family
    matrizes = {r[0] for r in rows(build, "estabelecimentos") if r[3] == "1"}
    assert len(empresas - matrizes) <= sum(m.family == "estabelecimentos" for m in build.malformed)
    ordered = [r[0] for r in rows(build, "empresas")[:200]]
    assert ordered != sorted(ordered), "real files are not sorted by cnpj_basico"


def test_check_digits_are_valid(build: SampleManifest) -> None:
    estab = rows(build, "estabelecimentos")
    assert all(r[2] == check_digits(r[0] + r[1]) for r in estab)
    alnum = [r for r in estab if not (r[0] + r[1]).isdigit()]
    assert alnum and all(re.fullmatch(r"[0-9A-Z]{12}[0-9]{2}", r[0] + r[1] + r[2]) for r in alnum)
    assert any(not r[1].isdigit() for r in alnum), "an alphanumeric cnpj_ordem"
    numeric = {r[0] for r in estab if r[0].isdigit()}
    assert numeric.isdisjoint(r[0] for r in alnum)
    companies = [r for r in rows(build, "socios") if r[1] == "1"]
    assert companies and all(r[3][12:] == check_digits(r[3][:12]) for r in companies)
    for family in ("empresas", "socios", "simples"):
        assert any(not r[0].isdigit() for r in rows(build, family)), family


def test_lookups_have_real_sizes_and_codes(build: SampleManifest) -> None:
    shapes = {
        "cnaes": r"\d{7}",
        "motivos": r"\d{2}",
        "municipios": r"\d{4}",
        "naturezas": r"\d{4}",
        "paises": r"\d{3}",
        "qualificacoes": r"\d{2}",
    }
    lookups = {}
    for family, shape in shapes.items():
        table = dict(rows(build, family))
        assert len(table) == LOOKUP_SIZES[family] == len(rows(build, family)), family
        assert all(re.fullmatch(shape, code) for code in table), family
        lookups[family] = table
    assert "32" not in lookups["motivos"]
    assert lookups["motivos"]["00"] == "SEM  MOTIVO"
    assert lookups["municipios"]["9707"] == "EXTERIOR"
    assert lookups["municipios"]["7107"] == "SAO PAULO"
    assert lookups["paises"]["105"] == "BRASIL"
    assert lookups["naturezas"]["2135"].startswith("Empres") and "2062" in lookups["naturezas"]
    assert lookups["qualificacoes"]["00"] == "Não informada"
    assert any(";" in text for text in lookups["cnaes"].values())
    assert lookups["cnaes"]["6204000"] == "Consultoria em tecnologia da informação"
    for family, codes in ORPHAN_CODES.items():
        assert not set(codes) & set(lookups[family]), family
    used = {  # every code the data uses resolves, or is a declared orphan
        "naturezas": {r[2] for r in rows(build, "empresas")},
        "motivos": {r[7] for r in rows(build, "estabelecimentos")},
        "municipios": {r[20] for r in rows(build, "estabelecimentos")},
        "cnaes": {r[11] for r in rows(build, "estabelecimentos")}
        | {c for r in rows(build, "estabelecimentos") for c in r[12].split(",") if c},
        "paises": {r[9] for r in rows(build, "estabelecimentos")} | {r[6] for r in rows(build, "socios")},
        "qualificacoes": {r[3] for r in rows(build, "empresas")} | {r[4] for r in rows(build, "socios")},
    }
    for family, codes in used.items():
        assert codes - {""} - set(lookups[family]) <= set(ORPHAN_CODES.get(family, ())), family
    assert "32" in used["motivos"]


def test_every_quirk_is_there_at_the_smallest_scale(tiny: SampleManifest) -> None:
    kinds = {family: {q.kind for q in tiny.quirks if q.family == family} for family in FAMILIES}
    everywhere = {"alphanumeric_cnpj", "blank_last_line", "duplicate_row"}
    text = {"semicolon_in_value", "newline_in_value", "c1_control_byte", "leading_trailing_spaces"}
    dates = {"date_zero", "date_7_chars", "date_impossible", "date_absurd_year"}
    assert kinds["empresas"] >= everywhere | text | {
        "capital_negative",
        "capital_sentinel",
        "orphan_natureza",
        "orphan_qualificacao",
        "ente_apostrophe",
        "cpf_in_name",
        "duplicate_key",
    }
    assert kinds["estabelecimentos"] >= everywhere | text | dates | {
        "nul_byte",
        "date_zeros",
        "date_empty",
        "orphan_motivo",
        "orphan_pais",
        "cep_7_digits",
        "cep_zero",
        "cep_letters",
        "cep_spaces",
        "numero_sn",
        "numero_sn_compact",
        "numero_sn_spaced",
        "pais_brasil",
        "abroad",
        "long_cnae_list",
        "duplicate_key",
    }
    assert kinds["socios"] >= everywhere | text | dates | {
        "masked_cpf",
        "pj_socio",
        "foreign_socio",
        "legal_representative",
        "orphan_qualificacao",
        "orphan_pais",
    }
    assert kinds["simples"] >= everywhere | dates | {"opcao_blank"}
    assert "semicolon_in_value" in kinds["cnaes"]


def test_quirk_records_point_at_their_rows(tiny: SampleManifest) -> None:
    for q in tiny.quirks:
        family = FAMILIES[q.family]
        recs = {line: fields for line, fields, _ in records(tiny.folder / q.zip_name)}
        fields = recs[q.line]
        if q.kind == "blank_last_line":
            assert fields == [] and q.line == max(recs)
            continue
        named = dict(zip(family.columns, fields, strict=True))
        assert {c: named[c] for c in q.key} == q.key, q
        assert named[q.column] == q.raw, q
    raws = {q.kind: q.raw for q in tiny.quirks if q.family == "estabelecimentos"}
    assert "\n" in raws["newline_in_value"] and "\x00" in raws["nul_byte"]
    assert re.search("[\x80-\x9f]", raws["c1_control_byte"]) and ";" in raws["semicolon_in_value"]
    assert len(raws["date_7_chars"]) == 7 and raws["cep_7_digits"].isdigit() and len(raws["cep_7_digits"]) == 7
    assert len(raws["long_cnae_list"].split(",")) == 97
    assert raws["orphan_motivo"] == "32"
    empresas = {q.kind: q.raw for q in tiny.quirks if q.family == "empresas"}
    assert empresas["capital_sentinel"] == "999999999999" and empresas["capital_negative"].startswith("-")
    assert "'" in empresas["ente_apostrophe"]
    for q in tiny.quirks:
        if q.kind in ("duplicate_row", "duplicate_key"):
            recs = {line: (fields, raw) for line, fields, raw in records(tiny.folder / q.zip_name)}
            (before, raw_before), (after, raw_after) = recs[q.line - 1], recs[q.line]
            assert before[0] == after[0] and (raw_before == raw_after) == (q.kind == "duplicate_row"), q


def test_values_look_like_the_real_ones(build: SampleManifest) -> None:
    empresas = rows(build, "empresas")
    assert {r[5] for r in empresas} <= {"00", "01", "03", "05"}
    assert all(re.fullmatch(r"-?\d+,\d\d|999999999999", r[4]) for r in empresas)
    individuals = [r for r in empresas if r[2] == "2135"]
    assert len(individuals) > len(empresas) / 3 and all(re.search(r" \d{11}$", r[1].rstrip()) for r in individuals)
    assert all(r[2].startswith("1") for r in empresas if r[6])
    estab = rows(build, "estabelecimentos")
    assert {r[5] for r in estab} <= {"01", "02", "03", "04", "08"}
    assert Counter(r[5] for r in estab).most_common(2)[0][0] in ("02", "08")
    assert {r[3] for r in estab} == {"1", "2"}
    assert sum(";" in r[16] for r in estab) / len(estab) == pytest.approx(0.05, abs=0.015)
    assert sum(bool(re.fullmatch(r"\d{8}", r[10])) for r in estab) / len(estab) > 0.99
    assert sum(bool(re.fullmatch(r"\d{8}", r[18])) for r in estab) / len(estab) > 0.99
    assert {r[19] for r in estab if r[20] == "9707"} <= {"EX"}
    assert any(r[9] == "105" for r in estab) and sum(r[9] == "" for r in estab) / len(estab) > 0.9
    socios = rows(build, "socios")
    assert {r[1] for r in socios} == {"1", "2", "3"}
    assert all(re.fullmatch(r"\*\*\*\d{6}\*\*", r[3]) for r in socios if r[1] == "2")
    assert all(r[3] == "" for r in socios if r[1] == "3")
    default = sum(r[7] == "***000000**" and r[9] == "00" for r in socios) / len(socios)
    assert default == pytest.approx(0.97, abs=0.02)
    assert {r[10] for r in socios} <= set("0123456789")
    simples = rows(build, "simples")
    assert {r[1] for r in simples} <= {"S", "N", ""} and {r[4] for r in simples} <= {"S", "N", ""}
    assert any(r[3] == "00000000" for r in simples)


def test_families_limit_what_is_written(tmp_path: Path) -> None:
    manifest = generate_release(tmp_path, scale=0, families=["motivos", "paises"])
    assert sorted(p.name for p in manifest.folder.iterdir()) == ["Motivos.zip", "Paises.zip"]
    assert [f.records for f in manifest.files] == [62, 255]


@pytest.mark.parametrize("kwargs", [{"release": "2026-13"}, {"scale": -1}, {"families": ["empresa"]}])
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate_release(tmp_path, **kwargs)
