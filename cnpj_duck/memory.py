"""How a build spends its memory: the split of `memory_limit`, and how freed memory goes back to the system.

What held a build's peak RSS (measured with scripts/memprobe.py, issue 13): the rows each file's key sorter holds,
the batches in flight between parse, transform and writer, and memory already freed but kept by glibc's malloc
(DuckDB's result buffers, the 16 MB slices of the parser), 100-400 MB of it; DuckDB's own buffer manager held
under 10 MB, as its transforms stream.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

import pyarrow as pa

from .config import Config, memory_bytes

# glibc's mallopt parameter, and the size from which it maps allocations on their own (see give_back_freed).
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 1 << 20
_lock = threading.Lock()
_done = False
_pool_chosen = False


def sort_bytes(config: Config) -> int:
    """The rows of one file that its key sorter holds before it spills a run: a quarter of `memory_limit`, shared
    by the files built at once (96 MB each by default); the rest is for what else the files hold meanwhile
    (parse batches, DuckDB's chunks, row groups being written) and what the allocators keep.

    The peak comes when two files spill at once: each has its rows taken to be sorted and written out while its
    parse batches keep coming. Half of `memory_limit` (192 MB a file) peaked at 1,082-1,113 MB at scale 0.3; a
    third (128 MB) at 1,007 MB at 0.3 and 1,163 MB at scale 1 (scripts/bench.py, idle machine); with jemalloc
    (choose_arrow_pool), Empresas0 and Empresas1 of scale 1 peaked at 962-981 MB with a third, 908 MB with a
    quarter (issue 13). DuckDB gets the whole `memory_limit` as its own cap, which its streaming transforms do
    not approach."""
    return memory_bytes(config.memory_limit) // (4 * config.parallel_files)


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


def choose_arrow_pool() -> str:
    """Make jemalloc Arrow's default memory pool for this process, when pyarrow has it and the user did not
    choose one (ARROW_DEFAULT_MEMORY_POOL); the backend in use. Done once per process, before a build allocates.

    With mimalloc (pyarrow's default) the process held 130-200 MB more than Arrow had allocated at the peak of a
    build, freed pages it keeps: Empresas0 and Empresas1 of scale 1 (two files spilling their sorted runs at
    once), three alternating runs each, peaked at 1,166 / 1,122 / 1,086 MB with mimalloc and 981 / 967 / 962 MB
    with jemalloc, for the same CPU (60.1-63.2 s against 60.3-62.9 s). The system allocator peaked lower still
    but took 50% more CPU (issue 13).
    """
    global _pool_chosen
    with _lock:
        if not _pool_chosen:
            _pool_chosen = True
            if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
                try:
                    pa.set_memory_pool(pa.jemalloc_memory_pool())
                except NotImplementedError:  # a pyarrow built without jemalloc: its default stays
                    pass
        return str(pa.default_memory_pool().backend_name)
