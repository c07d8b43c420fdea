"""Workflows restored a moment ago, kept for the request that acts on them next.

Opening a task restores its instance to fill the form in; sending the form would restore it again, and a
restore costs time in proportion to the instance's whole task tree. So the workflow the opening restored is
kept here, in this process, and the sending takes it instead of restoring.

An entry is used only for the very state it was restored from: it is keyed by the instance and its version,
and the saved state and bundle hash are compared too, so a copy another process (or another database in
the tests) has moved on since is never used; it is simply restored afresh. Taking an entry removes it, so no
two requests ever share a workflow, and one a failed attempt changed is never seen again. Only workflows
just restored and not changed since are kept, so a kept one is the same as restoring its state anew.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

from app.engine import runtime
from app.engine.runtime import ServiceCaller
from app.engine.specs import ParsedBundle

# A workflow of a long case holds a few hundred tasks in memory; a few dozen per process is plenty for the
# forms opened and sent in the same few minutes.
SIZE = 32


@dataclass(frozen=True)
class _Entry:
    state: str
    bundle_hash: str
    workflow: BpmnWorkflow


_entries: OrderedDict[Hashable, _Entry] = OrderedDict()
_lock = threading.Lock()


def keep(key: Hashable, state: str, bundle: ParsedBundle, workflow: BpmnWorkflow) -> None:
    """Keep a workflow just restored from `state` and not changed since, for the next request on it."""
    with _lock:
        _entries[key] = _Entry(state, bundle.hash, workflow)
        _entries.move_to_end(key)
        while len(_entries) > SIZE:
            _entries.popitem(last=False)


def restore(key: Hashable, state: str, bundle: ParsedBundle, caller: ServiceCaller | None) -> BpmnWorkflow:
    """The workflow saved as `state`: the one kept for exactly this state, or else restored now."""
    with _lock:
        entry = _entries.pop(key, None)
    if entry is not None and entry.state == state and entry.bundle_hash == bundle.hash:
        runtime.attach(entry.workflow, caller)
        return entry.workflow
    return runtime.restore(state, bundle, caller)


def clear() -> None:
    with _lock:
        _entries.clear()
