"""The limits a process that runs diagram code puts on itself before any of that code runs.

Both children that run a process owner's code use them: the trial run of each piece of a new diagram's code
(trial_child.py) and the run of a draft's scenarios in a throwaway database (app/services/replay.py). The
trial child loads this package by its file path, so this module may import nothing but the standard library.
"""

from __future__ import annotations

import math
import resource

MEMORY_BYTES = 512 * 1024 * 1024  # the address space a child running diagram code may have


def limit_memory(memory_bytes: int = MEMORY_BYTES) -> None:
    """No core files, and no more than `memory_bytes` of address space (never more than a limit already set)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def limit_cpu(seconds: int) -> None:
    """`seconds` more of processing time from now, after which the process is stopped (SIGXCPU).

    The soft limit counts whole seconds of this process's total, so a process that runs several pieces of
    work in turn calls this again before each to move it on."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(used.ru_utime + used.ru_stime) + seconds
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
