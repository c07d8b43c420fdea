"""Where SpiffWorkflow meets the sandbox: the environment and script engine every Compass workflow runs with."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .errors import SandboxError
from .guards import _GUARDS, _RESERVED, _per_run_guards
from .policy import compile_expression, compile_script

_Data = dict[str, Any]
_Extra = Mapping[str, Any] | None


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Runs diagram code in the sandbox with the data semantics of SpiffWorkflow's TaskDataEnvironment.

    `helpers` are extra functions diagram code may call, such as working_days. They are our own trusted
    Python, and they run unrestricted, so they must not hand back modules or anything that reaches one:
    each is wrapped so that a result other than plain text, a number or None is refused.
    """

    def __init__(self, helpers: Mapping[str, Callable[..., Any]] | None = None) -> None:
        checked = {}
        for name, helper in (helpers or {}).items():
            if not name.isidentifier() or name.startswith("_") or name in _RESERVED:
                raise ValueError(f"A diagram helper cannot be called {name!r}")
            if not callable(helper):
                raise ValueError(f"The diagram helper {name!r} is not a function")
            checked[name] = _plain_results(name, helper)
        super().__init__(environment_globals=checked)

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


# Exact types, not isinstance: a subclass of str could carry methods of its own.
_PLAIN_RESULTS = (str, int, float, bool, type(None))


def _plain_results(name: str, helper: Callable[..., Any]) -> Callable[..., Any]:
    """The helper as diagram code sees it: the same call, but only a plain value comes back. Checked on the
    way out rather than trusted, because an object handed to diagram code is a way around the guards."""

    def call(*args: Any, **kwargs: Any) -> Any:
        result = helper(*args, **kwargs)
        if type(result) not in _PLAIN_RESULTS:
            raise SandboxError(f"The diagram helper {name}() gave back a {type(result).__name__}, not a plain value")
        return result

    return call


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
