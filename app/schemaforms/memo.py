"""What is worked out from a form's schema, kept for that very schema object.

A flow's forms are parsed once per bundle and then shared by every request, so what each request would
otherwise work out again from the same schema (its validator, whether it has read-only questions) is kept
against the schema object itself. The entry holds the schema, so its id cannot be reused by another object
while it is kept. Schemas are never changed in place once made (the form editor changes a copy); a schema
made for one request (an editor's preview) is simply one more entry, and the oldest entries go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

SIZE = 256


class PerSchema:
    def __init__(self, work_out: Callable[[Any], Any]) -> None:
        self._work_out = work_out
        self._entries: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, schema: Any) -> Any:
        key = id(schema)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] is schema:
                self._entries.move_to_end(key)
                return entry[1]
        value = self._work_out(schema)
        with self._lock:
            self._entries[key] = (schema, value)
            while len(self._entries) > SIZE:
                self._entries.popitem(last=False)
        return value
