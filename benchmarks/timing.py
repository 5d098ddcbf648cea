"""How the suite times and counts: every side in one process, in turn.

Every comparison runs its sides in one process, one call of each in turn
(A B C A B C ...), after warm-up, and reports the median time of each: shared
machines are noisy, so a ratio measured side by side is the figure that holds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import statistics
import time
from collections.abc import Callable, Sequence

Side = Callable[[], object]


def alternately(
    sides: Sequence[Side], calls: int, reading: Callable[[], float]
) -> list[list[float]]:
    """Call each side in turn, ``calls`` times; how much ``reading()`` grew
    across each call, one list per side."""
    changes: list[list[float]] = [[] for _ in sides]
    for _ in range(calls):
        for f, side in zip(sides, changes):
            before = reading()
            f()
            side.append(reading() - before)
    return changes


def interleaved(
    sides: Sequence[Side], repeats: int, warmup: int = 20, seconds: float = 0.0
) -> list[float]:
    """Median seconds of each side, timed in turn after a warm-up.

    At least ``repeats`` rounds, and as many more as fill ``seconds``: a burst of
    load on the machine then covers a smaller share of the samples.
    """
    warm = alternately(sides, warmup, time.perf_counter)
    one_round = sum(map(sum, warm)) / max(warmup, 1)
    calls = max(repeats, int(seconds / one_round) if one_round > 0 else 0)
    timed = alternately(sides, calls, time.perf_counter)
    return [statistics.median(times) for times in timed]


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory instead of returning it to the OS.

    By default, a free that leaves enough room at the top of the heap gives it
    back, and the next allocation page-faults it in again. Whether that
    happens in an interleaved comparison depends on what the *other* sides left
    allocated: here it added ~200 page faults (0.5 ms) to one side's step, and
    which side changed with unrelated edits. Alone, no side's training loop
    faults (0-0.1 per step). The step rows count every side's faults,
    interleaved as timed, so a run shows none are left. False where malloc is
    not glibc's.
    """
    if platform.system() != "Linux":
        return False
    libc = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(libc), "mallopt", None) if libc else None
    if mallopt is None:  # musl and others: nothing to set
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's <malloc.h>
    # Arrays up to 32 MiB (glibc's cap) come from the heap, not fresh mmaps.
    heap = mallopt(m_mmap_threshold, 32 << 20)
    return bool(heap and mallopt(m_trim_threshold, 1 << 30))


def page_faults_interleaved(sides: Sequence[Side], calls: int = 50) -> list[float]:
    """Minor page faults per call of each side, called in turn as when timed:
    memory the OS had to map in for each, with the others' frees in between."""
    import resource  # POSIX only, as are page faults counted this way

    def faults() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    return [sum(side) / calls for side in alternately(sides, calls, faults)]
