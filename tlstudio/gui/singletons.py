"""Keep ``None``, ``True`` and ``False`` alive under a Qt binding that loses references to them.

PySide6 6.12.0 on CPython 3.11 drops one reference to ``None`` on every call into Qt that returns nothing
(``QLabel.setText``, ``QProgressBar.setValue``, ...) and one to ``True`` on every signal ``emit()``. Measured
here: 1 000 ``setText`` calls take ``sys.getrefcount(None)`` down by exactly 1 000 (6.11.3: by 0). None
starts with about 5 300 references (about 223 000 once torch is imported), True with about 590 (38 000),
so a training run's progress signals or a long session reach zero, and the interpreter aborts with
"Fatal Python error: none_dealloc" (or "bool_dealloc"). From Python 3.12 these objects are immortal and
nothing is lost. On older CPython, ``keep_alive`` does what 3.12 does: it adds 2**60 to their reference
counts, which no session can use up (at a million lost references a second, 36 000 years). The first
field of every CPython object is its reference count, which is all this touches.
"""
from __future__ import annotations

import ctypes
import sys

MARGIN = 1 << 60


def keep_alive() -> bool:
    """Give None, True and False a reference count that cannot run out; True when it was needed."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for obj in (None, True, False):
        count = ctypes.c_ssize_t.from_address(id(obj))
        if count.value < MARGIN:
            count.value += MARGIN
    return True
