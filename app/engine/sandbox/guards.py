"""The guard names RestrictedPython's compiled code looks up as globals, put together in one table.

environment.py lays these over the task data for every run, and refuses data fields that share their names.
"""

from __future__ import annotations

from typing import Any

from RestrictedPython.Guards import full_write_guard, guarded_iter_unpack_sequence, guarded_unpack_sequence

from .attributes import _guarded_getattr
from .builtins import _BUILTINS
from .operators import (
    _apply,
    _compass_add,
    _compass_format,
    _compass_lshift,
    _compass_mod,
    _compass_mul,
    _compass_pow,
    _compass_sized,
    _inplacevar,
)
from .step_budget import _StepBudget


def _getitem(obj: Any, key: Any) -> Any:
    return obj[key]


# Names the compiled code looks up as globals. They are put in last, over the task data, so data can never
# replace a guard.
_GUARDS: dict[str, Any] = {
    "__builtins__": _BUILTINS,
    "_getattr_": _guarded_getattr,
    "_getitem_": _getitem,
    "_write_": full_write_guard,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_inplacevar_": _inplacevar,
    "_apply_": _apply,
    "_compass_add_": _compass_add,
    "_compass_mul_": _compass_mul,
    "_compass_pow_": _compass_pow,
    "_compass_lshift_": _compass_lshift,
    "_compass_mod_": _compass_mod,
    "_compass_format_": _compass_format,
    "_compass_sized_": _compass_sized,
}
_PER_RUN_GUARDS = ("_getiter_", "_compass_tick_")
_RESERVED = frozenset(_GUARDS) | frozenset(_PER_RUN_GUARDS)


def _per_run_guards() -> dict[str, Any]:
    budget = _StepBudget()
    return {"_getiter_": budget.iterate, "_compass_tick_": budget.tick}
