"""The child side of a trial run, which runs untrusted diagram code once it has put limits on itself.

trial.py starts this in a fresh interpreter that loads the sandbox package by its file path, so the child
never imports the Flask app or its settings, and only this package and its libraries run next to the code.
"""

from __future__ import annotations

import json
import pickle
import sys
from collections.abc import Callable
from typing import Any

from .environment import RestrictedEnvironment
from .errors import SandboxError
from .process_limits import limit_cpu, limit_memory

_READY = b"ready"  # the child's first line: its limits are set and it is reading items


def _trial_child() -> None:
    """The child side of trial_run: limits itself, then runs each item and writes one JSON line each."""
    # From our own parent process, before any untrusted code has run here.
    data_bytes, items, helpers, cpu_seconds, memory_bytes = pickle.loads(sys.stdin.buffer.read())  # noqa: S301
    limit_memory(memory_bytes)
    out = sys.stdout.buffer
    out.write(_READY + b"\n")
    out.flush()
    environment = RestrictedEnvironment(helpers={name: _stand_in(value) for name, value in helpers.items()})
    for _element_id, kind, source in items:
        limit_cpu(cpu_seconds)
        message = _trial_one(environment, kind, source, data_bytes, memory_bytes)
        out.write(json.dumps(message).encode() + b"\n")
        out.flush()


def _stand_in(value: Any) -> Callable[..., Any]:
    """A helper's stand-in: the trial checks the code around a call, not the helper's own work."""

    def helper(*args: Any, **kwargs: Any) -> Any:
        return value

    return helper


def _trial_one(
    environment: RestrictedEnvironment, kind: str, source: str, data_bytes: bytes, memory_bytes: int
) -> str | None:
    context = pickle.loads(data_bytes)  # noqa: S301 - the parent's sample data; a fresh copy per item
    try:
        if kind == "expression":
            result = environment.evaluate(source, context)
        else:
            environment.execute(source, context)
            result = context
        # The engine will save the result as JSON; a value that is small in memory but enormous as text
        # ([[0] * 99999] * 99999) fails here rather than when the case is saved.
        json.dumps(result, default=str)
    except SandboxError as err:
        return str(err)
    except MemoryError:
        return f"it needed more than {memory_bytes // (1024 * 1024)} MB of memory"
    except RecursionError:
        return "it called itself too deeply"
    except Exception:
        return None
    return None
