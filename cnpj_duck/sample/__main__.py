"""Timing without the CLI: python -m cnpj_duck.sample OUT_DIR [SCALE] [WORKERS]."""

import sys
import time
from pathlib import Path

from cnpj_duck.sample import generate_release

started = time.perf_counter()
built = generate_release(
    Path(sys.argv[1]),
    scale=float(sys.argv[2]) if len(sys.argv) > 2 else 0.05,
    workers=int(sys.argv[3]) if len(sys.argv) > 3 else 2,
)
print(
    f"{time.perf_counter() - started:.1f} s, {sum(f.records for f in built.files):,} records, "
    f"{sum(f.uncompressed_bytes for f in built.files):,} bytes unzipped, "
    f"{sum(f.zipped_bytes for f in built.files):,} zipped, in {built.folder}"
)
