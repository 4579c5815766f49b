"""Fewer glibc malloc arenas, so memory freed after large answers is reused, not kept.

glibc gives threads that contend for malloc their own arenas, up to 8 per core. Memory
freed in one arena serves later allocations of that arena only, and glibc rarely hands
it back to the kernel. With 32 HTTP threads each building a large answer at once, the
gateway went from 63 MB to 200 MB and stayed there. Two arenas (what MALLOC_ARENA_MAX=2
does, set from inside the process so no launcher or manifest has to remember it) keep
the freed memory where the next answer will find it; measured in docs/reliability.md.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt's parameter number for the arena cap (glibc's malloc.h: #define M_ARENA_MAX -8).
_M_ARENA_MAX = -8


def limit_malloc_arenas(count: int) -> bool:
    """Cap glibc's malloc arenas at `count`; False where the C library is not glibc.

    Call it first thing in `main`, before threads start: arenas made before it stay.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # musl, macOS: no mallopt, a different allocator
        return False
    return bool(mallopt(_M_ARENA_MAX, count))
