"""Generate a faithful, deterministic sample of a Receita Federal CNPJ release (see ../shared/RFB_FORMAT.md).

Every file is built alone from (release, scale, seed, family, index): company i always has the same
cnpj_basico and the same number of establishments, partners and Simples rows, so the files agree on keys
whichever process writes them. The quirks of RFB_FORMAT.md §3 and §5 appear at realistic rates, and each is
also forced near the start of file 0 so that even a tiny sample has all of them; the manifest says where.

companies.py plans who exists, vocabulary.py holds the words, lookups and value pools, rows.py makes the
records, quirks.py breaks some of them as the real data does, and writer.py writes the zips and the release.
"""

from cnpj_duck.cnpj import check_digits as cnpj_check_digits

from .companies import REAL_ROWS
from .quirks import MALFORMED_KINDS, MalformedRecord, QuirkRecord
from .vocabulary import LOOKUP_SIZES, ORPHAN_CODES
from .writer import FileStats, SampleManifest, generate_release

__all__ = [
    "LOOKUP_SIZES",
    "MALFORMED_KINDS",
    "ORPHAN_CODES",
    "REAL_ROWS",
    "FileStats",
    "MalformedRecord",
    "QuirkRecord",
    "SampleManifest",
    "cnpj_check_digits",
    "generate_release",
]
