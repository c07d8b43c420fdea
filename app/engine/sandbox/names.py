"""Calls to functions that diagram code will never have, found when the diagram is uploaded.

At run time a misspelt helper (`working_dayz(1)`) is a NameError, which a trial run with sample data cannot
tell from a variable the sample lacks, so the trial lets it through and the case would fail weeks later on
its timer. Task data is JSON and scripts lose the functions they define when they end, so a name that is
called must be a sandbox built-in, a helper, or bound in the same piece of code: anything else is a mistake.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from .builtins import _BUILTINS


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name the code itself binds anywhere: assignments, definitions, parameters, loop targets."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
    return bound


def unknown_calls(source: str, kind: str, helpers: Iterable[str]) -> list[str]:
    """The names `source` calls that are neither built-ins of the sandbox, nor `helpers`, nor bound in it.

    `kind` is "expression" or "script"; the source must already have compiled (policy.compile_*).
    """
    tree = ast.parse(source, mode="eval" if kind == "expression" else "exec")
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    if not called:
        return []
    return sorted(called - set(_BUILTINS) - set(helpers) - _bound_names(tree))
