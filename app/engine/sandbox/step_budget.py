"""The per-run budget that stops diagram code looping or recursing for ever."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .errors import SandboxError
from .limits import MAX_STEPS


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
