"""The built-in names diagram code may use: RestrictedPython's safe set, plus the everyday ones it leaves out.

The constructors and functions that can build a huge value or run for minutes (int, range, round, pow, sum)
are swapped for checked stand-ins, so a process owner still writes ordinary Python.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from RestrictedPython import safe_builtins

from .errors import SandboxError
from .limits import MAX_INT_BITS, MAX_ROUND_DIGITS, _check_decimal, _check_items
from .operators import _SEQUENCES, _compass_add, _compass_pow

# Stand-in -> real type, so attributes.py can find the method checks for int.from_bytes on the checked int.
_PROXIED_TYPES: dict[type, type] = {}


def _guarded_type(wrapped: type, check: Callable[..., None]) -> type:
    """A stand-in for a built-in type whose constructor needs a check, which still works in isinstance()."""

    class _GuardedTypeMeta(type):
        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            check(*args, **kwargs)
            return wrapped(*args, **kwargs)

        def __instancecheck__(cls, instance: Any) -> bool:
            return isinstance(instance, wrapped)

        def __subclasscheck__(cls, subclass: type) -> bool:
            return issubclass(subclass, wrapped)

        def __getattr__(cls, name: str) -> Any:
            return getattr(wrapped, name)

        def __repr__(cls) -> str:
            return repr(wrapped)

    proxy = _GuardedTypeMeta(wrapped.__name__, (), {})
    _PROXIED_TYPES[proxy] = wrapped
    return proxy


def _check_int_arguments(*args: Any, **kwargs: Any) -> None:
    if args:
        _check_decimal(args[0])


def _check_range_arguments(*args: Any, **kwargs: Any) -> None:
    try:
        count = len(range(*args))
    except OverflowError:
        count = sys.maxsize
    except TypeError:
        return  # the real range() raises the same error
    _check_items(count, "This range()")


def _round(number: Any, ndigits: Any = None) -> Any:
    if ndigits is None:
        _check_decimal(number)
        return round(number)
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise SandboxError(f"round() to more than {MAX_ROUND_DIGITS:,} digits is not allowed")
    return round(number, ndigits)


def _pow(base: Any, exponent: Any, modulus: Any = None) -> Any:
    if modulus is None:
        return _compass_pow(base, exponent)
    if isinstance(modulus, int) and modulus.bit_length() > MAX_INT_BITS:
        raise SandboxError(f"pow() with a modulus over {MAX_INT_BITS:,} bits is not allowed")
    return pow(base, exponent, modulus)


def _sum(iterable: Iterable[Any], /, start: Any = 0) -> Any:
    # sum(lists, []) concatenates, which would bypass the '+' check.
    if isinstance(start, _SEQUENCES):
        total = start
        for item in iterable:
            total = _compass_add(total, item)
        return total
    return sum(iterable, start)


_MODULES_FOR_DATETIME = frozenset({"time", "_strptime"})


def _import_for_datetime(
    name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
) -> types.ModuleType:
    """date.today(), strftime() and strptime() import these from C through the running code's builtins.

    Diagram code itself can never call this: '__import__' is refused at compile time, and a module is of
    no use to it anyway, since the attribute guard refuses every module.
    """
    if name not in _MODULES_FOR_DATETIME or level != 0:
        raise ImportError("Imports are not allowed in diagram code")
    return importlib.import_module(name)


_INT = _guarded_type(int, _check_int_arguments)
_RANGE = _guarded_type(range, _check_range_arguments)

_BUILTINS: dict[str, Any] = {
    name: value for name, value in safe_builtins.items() if name not in ("_getattr_", "__build_class__")
}
_BUILTINS.update(
    {
        "len": len,
        "min": min,
        "max": max,
        "sum": _sum,
        "any": any,
        "all": all,
        "sorted": sorted,
        "list": list,
        "dict": dict,
        "set": set,
        "tuple": tuple,
        "str": str,
        "int": _INT,
        "float": float,
        "bool": bool,
        "abs": abs,
        "round": _round,
        "pow": _pow,
        "enumerate": enumerate,
        "zip": zip,
        "isinstance": isinstance,
        "range": _RANGE,
        "datetime": datetime,
        "date": date,
        "timedelta": timedelta,
        "Decimal": Decimal,
        "__import__": _import_for_datetime,
    }
)
