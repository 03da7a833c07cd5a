"""How a build spends its memory: the split of `memory_limit`, and how freed memory goes back to the system.

What held a build's peak RSS (measured with scripts/memprobe.py, issue 13): the rows each file's key sorter holds,
the batches in flight between parse, transform and writer, and memory already freed but kept by glibc's malloc
(DuckDB's result buffers, the 16 MB slices of the parser), 100-400 MB of it; DuckDB's own buffer manager held
under 10 MB, as its transforms stream.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

from .config import Config, memory_bytes

# glibc's mallopt parameter, and the size from which it maps allocations on their own (see give_back_freed).
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 1 << 20
_lock = threading.Lock()
_done = False


def sort_bytes(config: Config) -> int:
    """The rows of one file that its key sorter holds before it spills a run: a third of `memory_limit`, shared
    by the files built at once (128 MB each by default); the rest is for what else the files hold meanwhile
    (parse batches, DuckDB's chunks, row groups being written) and what the allocators keep.

    Half of it (192 MB a file) peaked at 1,082-1,113 MB at scale 0.3, a third at 956 MB (issue 13). DuckDB gets
    the whole `memory_limit` as its own cap, which its streaming transforms do not approach."""
    return memory_bytes(config.memory_limit) // (3 * config.parallel_files)


def give_back_freed() -> bool:
    """Make glibc's malloc map allocations of 1 MB and more on their own, so that they go back to the system
    when freed; whether it could (False off glibc). Done once per process.

    glibc starts at 128 KB and raises that threshold to the size of each mapped block freed, up to 32 MB, so
    after the first 16 MB slice was freed the next ones came from its heaps, where freed memory stays resident:
    a fixed threshold cut a build's peak RSS at scale 0.1 by 50-110 MB at no measured CPU cost (issue 13).
    """
    global _done
    with _lock:
        if _done:
            return True
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name)
            mallopt, _ = libc.mallopt, libc.gnu_get_libc_version  # only glibc has both
        except (OSError, AttributeError, TypeError):
            return False
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        _done = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD))
        return _done
