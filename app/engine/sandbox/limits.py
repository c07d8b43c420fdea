"""How big diagram values may grow, and the checks that every guard shares to hold them to it."""

from __future__ import annotations

from decimal import Decimal

from .errors import SandboxError

MAX_ITEMS = 100_000  # characters in a text, items in a list, numbers in a range
MAX_INT_BITS = 4_096  # about 1,200 decimal digits; no safeguarding rule needs more
MAX_STEPS = 250_000  # loop steps plus function calls in one evaluation or script run
MAX_STARRED = 8  # '*x' unpackings in one list, tuple, set or call
MAX_ROUND_DIGITS = 1_000  # round(10**100, -10**8) took 339 seconds here
MAX_DECIMAL_DIGITS = 4_000  # int(Decimal('9e999999')) took 35 seconds here


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
