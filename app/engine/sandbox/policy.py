"""Compiling diagram code: RestrictedPython's policy, tightened for diagrams, with a cache per source text.

Refusing at compile time means a bad diagram is turned away at upload with a message, instead of failing on
some later case. The same rewrite also routes every size-building operator to operators.py and puts a step
of the budget on every function call.
"""

from __future__ import annotations

import ast
import functools
import re
import types
from typing import Any, Literal

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations

from .errors import SandboxError, SandboxSyntaxError
from .limits import MAX_STARRED

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
