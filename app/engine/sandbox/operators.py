"""The size-checked operators diagram code runs with.

RestrictedPython does nothing about denial of service ('a' * 10**8 passes), so policy.py rewrites each
operator that can build a huge value (+, *, **, <<, % and f-string format specs) into a call to one of the
_compass_* helpers here, and RestrictedPython's own hooks for `x op= y` and calls with *args come here too.
Each refuses before the value is built: afterwards it would be too late.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from typing import Any

from .errors import SandboxError
from .limits import MAX_INT_BITS, MAX_ITEMS, _check_decimal, _check_items

_SEQUENCES = (str, bytes, list, tuple)


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
