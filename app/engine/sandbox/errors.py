"""The two errors the sandbox raises, kept apart so every other module can use them without a cycle."""

from __future__ import annotations


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
