"""The restricted script engine every diagram expression and script runs in.

Diagrams are uploaded by process owners, so their gateway conditions, script tasks, timer expressions,
service-task parameters and pre/post scripts are untrusted code. SpiffWorkflow's default environment runs
them with plain eval/exec, and `__import__('os').system(...)` in a gateway condition ran on this machine.
A restricted `__builtins__`, or RestrictedPython's safe globals with plain eval/exec, were both escaped;
only RestrictedPython's compile_restricted_* with its guards held, so everything here goes through that.

RestrictedPython does nothing about denial of service ('a' * 10**8 passes), and signal alarms do not work
in a web request's thread. So the compiler below also rewrites the operators that can build huge values
into size-checked helpers, and every loop step and function call draws on a per-run budget. Those checks
stop the one-liners; they cannot bound everything (a diagram can still make a few seconds of work or a
value whose text form is enormous), which is why `trial_run` runs each item of a new diagram in a child
process under CPU and memory limits before the diagram goes live.
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
import math
import operator
import os
import pickle
import re
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr_raise,
)
from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

__all__ = [
    "MAX_ITEMS",
    "RestrictedEnvironment",
    "SandboxError",
    "SandboxScriptEngine",
    "SandboxSyntaxError",
    "compile_expression",
    "compile_script",
    "trial_run",
]

MAX_ITEMS = 100_000  # characters in a text, items in a list, numbers in a range
MAX_INT_BITS = 4_096  # about 1,200 decimal digits; no safeguarding rule needs more
MAX_STEPS = 250_000  # loop steps plus function calls in one evaluation or script run
MAX_STARRED = 8  # '*x' unpackings in one list, tuple, set or call
MAX_ROUND_DIGITS = 1_000  # round(10**100, -10**8) took 339 seconds here
MAX_DECIMAL_DIGITS = 4_000  # int(Decimal('9e999999')) took 35 seconds here


class SandboxError(Exception):
    """Diagram code that the sandbox refused. The message is written for the process owner."""


class SandboxSyntaxError(SandboxError, SyntaxError):
    """Diagram code that is not valid Python.

    It is also a SyntaxError because SpiffWorkflow's DMN engine calls validate() and, on SyntaxError,
    retries a rule's match text with a variable in front ('> 5' becomes 'v > 5').
    """

    def __str__(self) -> str:
        # SyntaxError's own text would add "(line N)" to a message that already starts with the line.
        return str(self.msg)


# --- Size checks ----------------------------------------------------------------------------------

_SEQUENCES = (str, bytes, list, tuple)


def _check_items(count: int, what: str) -> None:
    if count > MAX_ITEMS:
        raise SandboxError(f"{what} would have {count:,} items; the limit is {MAX_ITEMS:,}")


def _check_size_argument(value: object, what: str) -> None:
    if isinstance(value, int) and value > MAX_ITEMS:
        raise SandboxError(f"{what} of {value:,} is not allowed; the limit is {MAX_ITEMS:,}")


def _check_decimal(value: object) -> None:
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > MAX_DECIMAL_DIGITS:
        limit = f"{MAX_DECIMAL_DIGITS:,}"
        raise SandboxError(f"Turning a decimal of over {limit} digits into a whole number is not allowed")


def _check_add(a: Any, b: Any) -> None:
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        _check_items(len(a) + len(b), "Joining these texts or lists")


def _compass_add(a: Any, b: Any) -> Any:
    _check_add(a, b)
    return a + b


def _check_mul(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise SandboxError(f"Multiplying numbers with more than {MAX_INT_BITS:,} bits is not allowed")
    elif isinstance(a, _SEQUENCES) and isinstance(b, int):
        _check_items(len(a) * b, "Repeating this text or list")
    elif isinstance(b, _SEQUENCES) and isinstance(a, int):
        _check_items(len(b) * a, "Repeating this text or list")


def _compass_mul(a: Any, b: Any) -> Any:
    _check_mul(a, b)
    return a * b


def _check_pow(base: Any, exponent: Any) -> None:
    if not (isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1):
        return
    # The result has about exponent * log2(base) bits; the first test keeps the float maths finite.
    if exponent > MAX_INT_BITS or exponent * math.log2(abs(base)) > MAX_INT_BITS:
        raise SandboxError(f"A power (**) with a result over {MAX_INT_BITS:,} bits is not allowed")


def _compass_pow(base: Any, exponent: Any) -> Any:
    _check_pow(base, exponent)
    try:
        return base**exponent
    except OverflowError:
        raise SandboxError("The result of this power (**) is too large to work with") from None


def _check_lshift(value: Any, places: Any) -> None:
    if isinstance(value, int) and isinstance(places, int) and places > MAX_INT_BITS:
        raise SandboxError(f"Shifting a number left by more than {MAX_INT_BITS:,} bits is not allowed")


def _compass_lshift(value: Any, places: Any) -> Any:
    _check_lshift(value, places)
    return value << places


_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?.", re.DOTALL)


def _check_mod(a: Any, b: Any) -> None:
    if not isinstance(a, (str, bytes)):
        return
    text = a.decode("latin-1") if isinstance(a, bytes) else a
    if "%" in text:
        for match in _PERCENT_FIELD.finditer(text):
            for number in match.group(1, 2):
                if number == "*":
                    raise SandboxError("Widths given by '*' in %-formatting are not allowed")
                if number and (len(number) > 6 or int(number) > MAX_ITEMS):
                    raise SandboxError(f"A width or precision over {MAX_ITEMS:,} in %-formatting is refused")
    values = b.values() if isinstance(b, dict) else b if isinstance(b, tuple) else (b,)
    for value in values:
        _check_decimal(value)


def _compass_mod(a: Any, b: Any) -> Any:
    _check_mod(a, b)
    return a % b


def _compass_format(value: Any, conversion: int, spec: str) -> str:
    """An f-string field with a format spec, such as f'{x:>{width}}'."""
    if conversion == ord("s"):
        value = str(value)
    elif conversion == ord("r"):
        value = repr(value)
    elif conversion == ord("a"):
        value = ascii(value)
    for number in re.findall(r"\d+", spec):
        if len(number) > 6 or int(number) > MAX_ITEMS:
            raise SandboxError(f"A width or precision over {MAX_ITEMS:,} in an f-string is not allowed")
    return format(value, spec)


def _compass_sized(value: Any) -> Any:
    """A list, tuple or set built with '*' unpacking. It is checked once built, which is enough to stop a
    loop that doubles a list this way; MAX_STARRED keeps any single build small."""
    _check_items(len(value), "This unpacked list")
    return value


_INPLACE_CHECKS: dict[str, Callable[[Any, Any], None]] = {
    "+=": _check_add,
    "*=": _check_mul,
    "**=": _check_pow,
    "<<=": _check_lshift,
    "%=": _check_mod,
}
_INPLACE_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "|=": operator.ior,
    "^=": operator.ixor,
    "&=": operator.iand,
    "//=": operator.ifloordiv,
    "@=": operator.imatmul,
}


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    """RestrictedPython turns `x op= y` into `x = _inplacevar_(op, x, y)`."""
    check = _INPLACE_CHECKS.get(op)
    if check is not None:
        check(target, value)
    try:
        return _INPLACE_OPERATORS[op](target, value)
    except OverflowError:
        raise SandboxError(f"The result of '{op}' is too large to work with") from None


def _apply(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """RestrictedPython routes calls with *args or **kwargs through here."""
    _check_items(len(args) + len(kwargs), "This call's argument list")
    return function(*args, **kwargs)


class _StepBudget:
    """Counts loop steps and function calls for one evaluation or script run.

    'while' is refused at compile time, but `for x in items: items.append(x)` or a function that calls
    itself twice would still run for ever. Once the budget is spent every further step fails, so code that
    catches the error cannot carry on looping.
    """

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_STEPS

    def _spent(self) -> SandboxError:
        steps = f"more than {MAX_STEPS:,} loop steps and function calls"
        return SandboxError(f"This code ran {steps}; diagram code must be small and quick")

    def tick(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise self._spent()

    def iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        return self._counted(iter(iterable))

    def _counted(self, iterator: Iterator[Any]) -> Iterator[Any]:
        for item in iterator:
            self.left -= 1
            if self.left < 0:
                raise self._spent()
            yield item


# --- Checked builtins -----------------------------------------------------------------------------

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


# --- Checked methods, handed out by the attribute guard -------------------------------------------

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


def _getitem(obj: Any, key: Any) -> Any:
    return obj[key]


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


# --- Compiling ------------------------------------------------------------------------------------

_BINOP_HELPERS: dict[type[ast.operator], str] = {
    ast.Add: "_compass_add_",
    ast.Mult: "_compass_mul_",
    ast.Pow: "_compass_pow_",
    ast.LShift: "_compass_lshift_",
    ast.Mod: "_compass_mod_",
}
# Python built-ins that are not in the sandbox. Refusing them by name turns a NameError at run time, which
# a trial run with sample data cannot tell from a missing variable, into a clear message at upload.
_UNAVAILABLE_NAMES = frozenset(
    {"open", "exec", "eval", "compile", "globals", "locals", "vars", "getattr", "breakpoint", "help"}
    | {"exit", "quit", "super", "memoryview"}
)
# RestrictedPython's wording, reworded in _CompassPolicy.error for process owners.
_UNDERSCORE_ERROR = re.compile(r'"([^"]+)" is an invalid (?:variable|attribute) name because it starts with')
_INSPECT_ERROR = re.compile(r'"([^"]+)" is a restricted name, that is forbidden to access')


def _call(helper: str, args: list[ast.expr], like: ast.expr) -> ast.Call:
    call = ast.Call(func=ast.Name(helper, ast.Load()), args=args, keywords=[])
    copy_locations(call, like)
    return call


class _CompassPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus our limits on loops, imports, classes and value sizes."""

    def error(self, node: ast.AST, info: str) -> None:
        if match := _UNDERSCORE_ERROR.match(info):
            info = f"Names starting with an underscore are not allowed: {match.group(1)}"
        elif match := _INSPECT_ERROR.match(info):
            info = f"'{match.group(1)}' is not allowed in diagram code"
        super().error(node, info)

    def visit_While(self, node: ast.While) -> ast.AST:
        self.error(node, "Loops with 'while' are not allowed in diagram expressions; use 'for' over a list")
        return node

    def visit_Import(self, node: ast.Import) -> ast.AST:
        self.error(node, "Imports are not allowed in diagram code")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self.error(node, "Imports are not allowed in diagram code")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.error(node, "Classes cannot be defined in diagram code")
        return node

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in _UNAVAILABLE_NAMES:
            self.error(node, f"'{node.id}' is not available in diagram code")
        elif node.id in ("print", "printed"):
            # Output would go nowhere, and RestrictedPython's collector keeps every printed line in memory.
            self.error(node, "print() is not available in diagram code")
        return super().visit_Name(node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        helper = _BINOP_HELPERS.get(type(node.op))
        if helper is None:
            return node
        return _call(helper, [node.left, node.right], node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        node = self.node_contents_visit(node)
        if node.format_spec is None:
            return node
        value = _call("_compass_format_", [node.value, ast.Constant(node.conversion), node.format_spec], node)
        replacement = ast.FormattedValue(value=value, conversion=-1, format_spec=None)
        copy_locations(replacement, node)
        return replacement

    def _count_starred(self, node: ast.AST, values: list[ast.expr]) -> int:
        starred = sum(isinstance(value, ast.Starred) for value in values)
        if starred > MAX_STARRED:
            self.error(node, f"More than {MAX_STARRED} '*' unpackings in one place are not allowed")
        return starred

    def _sized_display(self, node: ast.List | ast.Tuple | ast.Set) -> ast.AST:
        node = self.node_contents_visit(node)
        loading = isinstance(node, ast.Set) or isinstance(node.ctx, ast.Load)
        if loading and self._count_starred(node, node.elts):
            return _call("_compass_sized_", [node], node)
        return node

    def visit_List(self, node: ast.List) -> ast.AST:
        return self._sized_display(node)

    def visit_Tuple(self, node: ast.Tuple) -> ast.AST:
        return self._sized_display(node)

    def visit_Set(self, node: ast.Set) -> ast.AST:
        return self._sized_display(node)

    def visit_Call(self, node: ast.Call) -> Any:
        self._count_starred(node, node.args)
        return super().visit_Call(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        visited = super().visit_FunctionDef(node)
        if isinstance(visited, ast.FunctionDef):
            tick = ast.Expr(ast.Call(func=ast.Name("_compass_tick_", ast.Load()), args=[], keywords=[]))
            copy_locations(tick, visited.body[0])
            visited.body.insert(0, tick)
        return visited

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        visited = super().visit_Lambda(node)
        if isinstance(visited, ast.Lambda):
            # `lambda: body` becomes `lambda: _compass_tick_() or body`; the tick returns None.
            body = visited.body
            visited.body = ast.BoolOp(op=ast.Or(), values=[_call("_compass_tick_", [], body), body])
            copy_locations(visited.body, body)
        return visited


def _compile(source: str, mode: Literal["eval", "exec"]) -> types.CodeType:
    what = "expression" if mode == "eval" else "script"
    if not isinstance(source, str):
        raise SandboxError(f"The {what} must be text")
    tree: ast.Expression | ast.Module
    compile_restricted = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        tree = ast.parse(source, "<string>", mode="eval") if mode == "eval" else ast.parse(source, "<string>")
        # '<string>' is the name SpiffWorkflow looks for in a traceback to report the failing line.
        result = compile_restricted(tree, filename="<string>", policy=_CompassPolicy)
    except SyntaxError as err:
        # From the parser, or from the compiler for things like 'yield' or 'return' outside a function.
        problem = SandboxSyntaxError(f"Line {err.lineno}: this is not valid Python ({err.msg})")
        problem.lineno, problem.offset = err.lineno, err.offset
        raise problem from None
    except (ValueError, MemoryError, RecursionError):
        raise SandboxSyntaxError(f"This {what} is too deeply nested or not valid text") from None
    if result.errors:
        raise SandboxError("; ".join(dict.fromkeys(result.errors)))
    if result.code is None:  # pragma: no cover - RestrictedPython returns code whenever there are no errors
        raise SandboxError(f"The {what} could not be compiled")
    return result.code


@functools.lru_cache(maxsize=4096)
def compile_expression(source: str) -> types.CodeType:
    """Compile a diagram expression (a condition, timer, parameter) for eval, or raise SandboxError."""
    return _compile(source, "eval")


@functools.lru_cache(maxsize=4096)
def compile_script(source: str) -> types.CodeType:
    """Compile a diagram script (a script task, pre- or post-script) for exec, or raise SandboxError."""
    return _compile(source, "exec")


# --- SpiffWorkflow integration --------------------------------------------------------------------


_Data = dict[str, Any]
_Extra = Mapping[str, Any] | None


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Runs diagram code in the sandbox with the data semantics of SpiffWorkflow's TaskDataEnvironment.

    `helpers` are extra functions diagram code may call, such as working_days. They are our own trusted
    Python, and they run unrestricted, so they must not hand back modules or anything that reaches one.
    """

    def __init__(self, helpers: Mapping[str, Callable[..., Any]] | None = None) -> None:
        helpers = dict(helpers or {})
        for name, helper in helpers.items():
            if not name.isidentifier() or name.startswith("_") or name in _RESERVED:
                raise ValueError(f"A diagram helper cannot be called {name!r}")
            if not callable(helper):
                raise ValueError(f"The diagram helper {name!r} is not a function")
        super().__init__(environment_globals=helpers)

    def evaluate(self, expression: str, context: _Data, external_context: _Extra = None) -> Any:
        code = compile_expression(expression)
        namespace = {**self.globals, **(external_context or {}), **context, **_GUARDS, **_per_run_guards()}
        return eval(code, namespace)  # noqa: S307 - restricted code, compiled above with its guards

    def execute(self, script: str, context: _Data, external_context: _Extra = None) -> bool:
        external_context = external_context or {}
        self.check_for_overwrite(context, external_context)
        code = compile_script(script)
        context.update(self.globals)
        context.update(external_context)
        context.update(_GUARDS)
        context.update(_per_run_guards())
        try:
            exec(code, context)  # noqa: S102 - restricted code, compiled above with its guards
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
        return True

    def check_for_overwrite(self, context: Mapping[str, Any], external_context: Mapping[str, Any]) -> None:
        """A data field named like a helper would make the helper uncallable, or be silently removed."""
        clashes = sorted((set(self.globals) | set(external_context) | _RESERVED).intersection(context))
        if clashes:
            problem = "The task data has fields named like diagram helpers; rename these fields"
            raise SandboxError(f"{problem}: {', '.join(clashes)}")

    def _remove_globals_and_functions_from_context(
        self, context: dict[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> None:
        external_context = external_context or {}
        for name in list(context):
            value = context[name]
            if name in _RESERVED or name in self.globals or name in external_context or callable(value):
                del context[name]


class SandboxScriptEngine(PythonScriptEngine):
    """The script engine every Compass workflow runs with.

    `service_caller(task, operation_name, operation_params)` runs service tasks. SpiffWorkflow passes the
    parameters already evaluated, as {name: {"value": ..., "type": ...}}, and json.loads() whatever the
    caller returns into the task's result variable, so the caller must return a JSON string.
    """

    def __init__(
        self,
        environment: RestrictedEnvironment | None = None,
        service_caller: Callable[[Any, str, dict[str, Any]], Any] | None = None,
    ) -> None:
        if environment is not None and not isinstance(environment, RestrictedEnvironment):
            raise TypeError("SandboxScriptEngine only runs diagram code in a RestrictedEnvironment")
        super().__init__(environment=environment or RestrictedEnvironment())
        self.service_caller = service_caller

    def validate(self, expression: str) -> None:
        compile_expression(expression)

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return super().evaluate(task, expression, external_context)
        except Exception as err:
            _restore_sandbox_cause(err)
            raise

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return super().execute(task, script, external_context)
        except Exception as err:
            _restore_sandbox_cause(err)
            raise

    def call_service(
        self,
        task: Any,
        operation_name: str,
        operation_params: dict[str, Any],
        task_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        if self.service_caller is None:
            raise NotImplementedError("No handler caller configured")
        return self.service_caller(task, operation_name, operation_params)


def _restore_sandbox_cause(err: Exception) -> None:
    """SpiffWorkflow wraps errors in WorkflowTaskException("Error evaluating expression ...") and keeps only
    the class name of the original. Put the SandboxError back as __cause__, and its plain message in a note,
    so the process owner can be told what was refused."""
    cause = err.__context__
    if isinstance(err, SandboxError) or not isinstance(cause, SandboxError) or err.__cause__ is not None:
        return
    err.__cause__ = cause
    if str(cause) not in str(err):
        err.add_note(str(cause))


# --- Trial runs before a diagram goes live --------------------------------------------------------

_CHILD_BOOTSTRAP = """\
import importlib.util, json, sys
sys.path[:0] = json.loads(sys.argv[1])
spec = importlib.util.spec_from_file_location("compass_trial_sandbox", sys.argv[2])
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
module._trial_child()
"""
_READY = b"ready"
_STARTUP_SECONDS = 30.0


def trial_run(
    items: list[tuple[str, str, str]],
    data: dict[str, Any],
    cpu_seconds: int = 2,
    memory_bytes: int = 512 * 1024 * 1024,
) -> list[tuple[str, str]]:
    """Run each (element_id, "expression" | "script", source) against a copy of `data` in a child process
    with CPU and memory limits, and return (element_id, message) for each item the sandbox refused or that
    ran out of time or memory.

    Other errors are not reported: sample data never has every variable, so a NameError (or a TypeError
    from a None) says nothing about the diagram. Helpers given to RestrictedEnvironment are not available
    in the trial, so calls to them fail the same way and are not reported either.
    """
    for element_id, kind, _source in items:
        if kind not in ("expression", "script"):
            raise ValueError(f"Unknown kind of diagram code for {element_id}: {kind!r}")
    data_bytes = pickle.dumps(data)
    problems: list[tuple[str, str]] = []
    start = 0
    while start < len(items):
        batch = items[start:]
        results, failure = _run_child(batch, data_bytes, cpu_seconds, memory_bytes)
        problems += [(item[0], message) for item, message in zip(batch, results) if message]
        if failure is None:
            break
        # The child died on the item after the last one it reported; carry on after it in a new child.
        culprit = start + len(results)
        problems.append((items[culprit][0], failure))
        start = culprit + 1
    return problems


def _run_child(
    items: list[tuple[str, str, str]], data_bytes: bytes, cpu_seconds: int, memory_bytes: int
) -> tuple[list[str | None], str | None]:
    """Results for the items the child finished, and why it stopped early if it did."""
    search_path = [os.path.abspath(entry or os.curdir) for entry in sys.path]
    command = [
        sys.executable,
        "-I",
        "-c",
        _CHILD_BOOTSTRAP,
        json.dumps(search_path),
        os.path.abspath(__file__),
    ]
    payload = pickle.dumps((data_bytes, items, cpu_seconds, memory_bytes))
    per_item_seconds = cpu_seconds * 4 + 5.0  # wall clock backstop; the CPU limit normally acts first
    with tempfile.TemporaryFile() as errors:
        # An empty environment: untrusted code in the child never sits next to our secrets.
        pipe = subprocess.PIPE
        child = subprocess.Popen(command, stdin=pipe, stdout=pipe, stderr=errors, env={})
        assert child.stdin is not None and child.stdout is not None
        try:
            try:
                child.stdin.write(payload)
                child.stdin.close()
            except BrokenPipeError:
                pass
            lines = _LineReader(child.stdout.fileno())
            if lines.read(_STARTUP_SECONDS) != _READY:
                child.kill()
                child.wait()
                errors.seek(0)
                detail = errors.read().decode(errors="replace").strip().splitlines()[-1:]
                raise RuntimeError(f"The trial run could not start: {' '.join(detail) or 'no output'}")
            results: list[str | None] = []
            while len(results) < len(items):
                line = lines.read(per_item_seconds)
                if line is None:
                    child.kill()
                    child.wait()
                    return results, f"it ran for more than {per_item_seconds:.0f} seconds"
                if not line:
                    return results, _death_message(child.wait(), cpu_seconds, memory_bytes)
                try:
                    message = json.loads(line)
                except ValueError:
                    message = 0  # not a reply the child would send: treat it as a crash
                if not (message is None or isinstance(message, str)):
                    child.kill()
                    child.wait()
                    return results, "it stopped the trial run unexpectedly"
                results.append(message[:500] if message else None)
            child.wait(timeout=5)
            return results, None
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()


def _death_message(returncode: int, cpu_seconds: int, memory_bytes: int) -> str:
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return f"it used more than {cpu_seconds} seconds of processing time"
    return (
        f"it stopped the trial run unexpectedly, probably by needing more than "
        f"{memory_bytes // (1024 * 1024)} MB of memory"
    )


class _LineReader:
    """Lines from a pipe with a timeout. Replies are JSON, never pickle: the child runs untrusted code."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def read(self, timeout: float) -> bytes | None:
        """The next line without its newline; b"" at end of file; None on timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return b""
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line


def _trial_child() -> None:
    """The child side of trial_run: limits itself, then runs each item and writes one JSON line each."""
    # From our own parent process, before any untrusted code has run here.
    data_bytes, items, cpu_seconds, memory_bytes = pickle.loads(sys.stdin.buffer.read())  # noqa: S301
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = sys.stdout.buffer
    out.write(_READY + b"\n")
    out.flush()
    environment = RestrictedEnvironment()
    for _element_id, kind, source in items:
        # The soft CPU limit is whole seconds of this process's total, so it moves on for each item.
        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = math.ceil(used.ru_utime + used.ru_stime) + cpu_seconds
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
        message = _trial_one(environment, kind, source, data_bytes, memory_bytes)
        out.write(json.dumps(message).encode() + b"\n")
        out.flush()


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
