"""Trial runs of a new diagram's code in a child process with CPU and memory limits, before it goes live.

The checks in this package stop the one-liners; they cannot bound everything (a diagram can still make a
few seconds of work or a value whose text form is enormous), and nothing in a web request's thread can
interrupt a runaway computation. A separate process under resource limits can be killed, and is.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

from .process_limits import MEMORY_BYTES
from .trial_child import _READY

# The child loads this package from its directory under a name of its own, never as app.engine.sandbox:
# importing through `app` would run app/__init__.py, and with it the Flask app and its settings. Giving the
# spec submodule_search_locations makes it a package, so the modules' relative imports resolve inside it.
_CHILD_BOOTSTRAP = """\
import importlib, importlib.util, json, os, sys
sys.path[:0] = json.loads(sys.argv[1])
package = sys.argv[2]
spec = importlib.util.spec_from_file_location(
    "compass_trial_sandbox", os.path.join(package, "__init__.py"), submodule_search_locations=[package]
)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
importlib.import_module("compass_trial_sandbox.trial_child")._trial_child()
"""
_STARTUP_SECONDS = 30.0


def trial_run(
    items: list[tuple[str, str, str]],
    data: dict[str, Any],
    cpu_seconds: int = 2,
    memory_bytes: int = MEMORY_BYTES,
    helpers: Mapping[str, str | int | float] | None = None,
) -> list[tuple[str, str]]:
    """Run each (element_id, "expression" | "script", source) against a copy of `data` in a child process
    with CPU and memory limits, and return (element_id, message) for each item the sandbox refused or that
    ran out of time or memory.

    Other errors are not reported: sample data never has every variable, so a NameError (or a TypeError
    from a None) says nothing about the diagram. The real helpers are not in the child (it never imports
    the app), so `helpers` names each one with a sample result: in the trial, a call to it with any
    arguments returns that value, and the code after the call is tried too.
    """
    for element_id, kind, _source in items:
        if kind not in ("expression", "script"):
            raise ValueError(f"Unknown kind of diagram code for {element_id}: {kind!r}")
    samples = dict(helpers or {})
    for name, value in samples.items():
        # Only plain values cross into the child, so a stand-in can hand diagram code nothing more.
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"The sample result of the helper {name!r} must be text or a number")
    data_bytes = pickle.dumps(data)
    problems: list[tuple[str, str]] = []
    start = 0
    while start < len(items):
        batch = items[start:]
        results, failure = _run_child(batch, data_bytes, samples, cpu_seconds, memory_bytes)
        problems += [(item[0], message) for item, message in zip(batch, results) if message]
        if failure is None:
            break
        # The child died on the item after the last one it reported; carry on after it in a new child.
        culprit = start + len(results)
        problems.append((items[culprit][0], failure))
        start = culprit + 1
    return problems


def _run_child(
    items: list[tuple[str, str, str]],
    data_bytes: bytes,
    helpers: dict[str, str | int | float],
    cpu_seconds: int,
    memory_bytes: int,
) -> tuple[list[str | None], str | None]:
    """Results for the items the child finished, and why it stopped early if it did."""
    search_path = [os.path.abspath(entry or os.curdir) for entry in sys.path]
    command = [
        sys.executable,
        "-I",
        "-c",
        _CHILD_BOOTSTRAP,
        json.dumps(search_path),
        os.path.dirname(os.path.abspath(__file__)),
    ]
    payload = pickle.dumps((data_bytes, items, helpers, cpu_seconds, memory_bytes))
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
