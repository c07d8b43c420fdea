"""The attribute guard, and the checked methods it hands out in place of the real ones.

Attribute access is where diagram code could reach a module or build a huge text ('x'.ljust(10**9)), and it
all goes through RestrictedPython's _getattr_, so this is the one place to stop both.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from RestrictedPython.Guards import safer_getattr_raise

from .builtins import _PROXIED_TYPES
from .errors import SandboxError
from .limits import MAX_INT_BITS, _check_decimal, _check_items, _check_size_argument

_Arguments = tuple[tuple[Any, ...], dict[str, Any]]


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


_SIZED = (list, tuple, str, bytes, dict, set, frozenset, range)


def _materialised(values: Any) -> Any:
    return values if isinstance(values, _SIZED) else list(values)


def _check_width(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Arguments:
    _check_size_argument(_argument(args, kwargs, 0, "width", 0), "A text width")
    return args, kwargs


def _check_expandtabs(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Arguments:
    tabsize = _argument(args, kwargs, 0, "tabsize", 8)
    if isinstance(tabsize, int):
        tabs = self.count("\t" if isinstance(self, str) else b"\t")
        _check_items(len(self) + tabs * max(tabsize, 0), "Expanding these tabs")
    return args, kwargs


def _check_replace(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Arguments:
    old, new = _argument(args, kwargs, 0, "old", None), _argument(args, kwargs, 1, "new", None)
    count = _argument(args, kwargs, 2, "count", -1)
    if type(old) is type(self) and type(new) is type(self) and isinstance(count, int):
        found = self.count(old) if old else len(self) + 1
        if count >= 0:
            found = min(found, count)
        _check_items(len(self) + found * max(0, len(new) - len(old)), "This replace()")
    return args, kwargs


def _check_join(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Arguments:
    if not args:
        return args, kwargs
    parts = _materialised(args[0])
    total = sum(len(part) for part in parts if isinstance(part, (str, bytes)))
    _check_items(total + len(self) * max(len(parts) - 1, 0), "This join()")
    return (parts, *args[1:]), kwargs


def _check_translate(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Arguments:
    table = _argument(args, kwargs, 0, "table", None)
    # A table maps characters to texts of any length, so every character may grow to the longest of them.
    values = table.values() if isinstance(table, dict) else table if isinstance(table, (list, tuple)) else ()
    longest = max((len(v) for v in values if isinstance(v, str)), default=1)
    _check_items(len(self) * longest, "This translate()")
    return args, kwargs


def _check_extend(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Arguments:
    if not args:
        return args, kwargs
    # Copied first: extending a list from a generator over itself would never end.
    items = _materialised(args[0])
    _check_items(len(self) + len(items), "Extending this list")
    return (items, *args[1:]), kwargs


def _check_to_bytes(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Arguments:
    _check_size_argument(_argument(args, kwargs, 0, "length", 1), "A byte length")
    return args, kwargs


def _check_from_bytes(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Arguments:
    if args:
        data = _materialised(args[0])
        args = (data, *args[1:])
    elif "bytes" in kwargs:
        data = kwargs["bytes"] = _materialised(kwargs["bytes"])
    else:
        return args, kwargs
    if len(data) * 8 > MAX_INT_BITS:
        raise SandboxError(f"A number over {MAX_INT_BITS:,} bits is not allowed")
    return args, kwargs


def _check_integer_ratio(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Arguments:
    _check_decimal(self)
    return args, kwargs


_MethodCheck = Callable[[Any, tuple[Any, ...], dict[str, Any]], _Arguments]
_CHECKED_KINDS: tuple[type, ...] = (str, bytes, list, int, Decimal)
_METHOD_CHECKS: dict[tuple[type, str], _MethodCheck] = {
    **{(kind, name): _check_width for kind in (str, bytes) for name in ("ljust", "rjust", "center", "zfill")},
    **{(kind, "expandtabs"): _check_expandtabs for kind in (str, bytes)},
    **{(kind, "replace"): _check_replace for kind in (str, bytes)},
    **{(kind, "join"): _check_join for kind in (str, bytes)},
    (str, "translate"): _check_translate,
    (list, "extend"): _check_extend,
    (int, "to_bytes"): _check_to_bytes,
    (int, "from_bytes"): _check_from_bytes,
    (Decimal, "as_integer_ratio"): _check_integer_ratio,
}
_CLASS_METHODS = {(int, "from_bytes")}  # already bound to the class, so there is no instance argument
_CHECKED_METHOD_NAMES = frozenset(name for _, name in _METHOD_CHECKS)


def _checked_method(obj: Any, name: str, method: Any) -> Any:
    on_class = isinstance(obj, type)
    owner = _PROXIED_TYPES.get(obj, obj) if on_class else type(obj)
    kind = next((k for k in _CHECKED_KINDS if issubclass(owner, k)), None)
    check = _METHOD_CHECKS.get((kind, name)) if kind is not None else None
    if check is None or not callable(method):
        return method
    if (kind, name) in _CLASS_METHODS:

        def checked_class_method(*args: Any, **kwargs: Any) -> Any:
            args, kwargs = check(None, args, kwargs)
            return method(*args, **kwargs)

        return checked_class_method
    if on_class:

        def checked_unbound(self: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(self, owner):
                args, kwargs = check(self, args, kwargs)
            return method(self, *args, **kwargs)

        return checked_unbound

    def checked_bound(*args: Any, **kwargs: Any) -> Any:
        args, kwargs = check(obj, args, kwargs)
        return method(*args, **kwargs)

    return checked_bound


def _guarded_getattr(obj: Any, name: str) -> Any:
    if isinstance(obj, types.ModuleType):
        # A module reachable from the data is an escape (random._os.system), so none may be used at all.
        raise SandboxError(f"Modules cannot be used in diagram code (found the module {obj.__name__!r})")
    if name in ("format", "format_map") and (isinstance(obj, str) or obj is str):
        # '{0.__class__.__base__}'.format(x) walks attributes without passing this guard.
        raise SandboxError("str.format() is not allowed in diagram code; use an f-string instead")
    # The raising variant: plain safer_getattr returns None for a misspelt attribute.
    value = safer_getattr_raise(obj, name)
    if name in _CHECKED_METHOD_NAMES:
        return _checked_method(obj, name, value)
    return value
