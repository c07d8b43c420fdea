"""The restricted script engine every diagram expression and script runs in.

Diagrams are uploaded by process owners, so their gateway conditions, script tasks, timer expressions,
service-task parameters and pre/post scripts are untrusted code. SpiffWorkflow's default environment runs
them with plain eval/exec, and `__import__('os').system(...)` in a gateway condition ran on this machine.
A restricted `__builtins__`, or RestrictedPython's safe globals with plain eval/exec, were both escaped;
only RestrictedPython's compile_restricted_* with its guards held, so everything here goes through that.

RestrictedPython does nothing about denial of service ('a' * 10**8 passes), and signal alarms do not work
in a web request's thread. So the compiler also rewrites the operators that can build huge values into
size-checked helpers, and every loop step and function call draws on a per-run budget. Those checks stop
the one-liners; they cannot bound everything (a diagram can still make a few seconds of work or a value
whose text form is enormous), which is why `trial_run` runs each item of a new diagram in a child process
under CPU and memory limits before the diagram goes live.

errors       SandboxError and SandboxSyntaxError
limits       how big values may grow, and the shared checks that hold them to it
operators    the size-checked +, *, **, <<, %, f-string formats, `x op= y` and *args calls
step_budget  the per-run count of loop steps and function calls
builtins     the built-in names diagram code may use, with checked int, range, round, pow and sum
attributes   the attribute guard, and the checked methods it hands out
guards       the table of guard names the compiled code looks up as globals
policy       the AST policy, and compile_expression / compile_script with their caches
names        unknown_calls, which finds calls to functions diagram code will never have (a misspelt helper)
environment  RestrictedEnvironment and SandboxScriptEngine, for SpiffWorkflow
trial        trial_run, which starts a limited child process and reads its replies
trial_child  the child side of trial_run, loaded by file path so it never imports the Flask app
process_limits  the memory and CPU limits a child running diagram code puts on itself

The internals keep their leading underscores: only the names below are for use outside the package, and
some internals (such as _sum) are what diagram code sees when it looks at a built-in.
"""

from .environment import RestrictedEnvironment, SandboxScriptEngine
from .errors import SandboxError, SandboxSyntaxError
from .limits import MAX_ITEMS
from .names import unknown_calls
from .policy import compile_expression, compile_script
from .trial import trial_run

__all__ = [
    "MAX_ITEMS",
    "RestrictedEnvironment",
    "SandboxError",
    "SandboxScriptEngine",
    "SandboxSyntaxError",
    "compile_expression",
    "compile_script",
    "trial_run",
    "unknown_calls",
]
