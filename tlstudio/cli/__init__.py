"""The command line: the same core as the GUI, headless, with terminal progress bars."""
from __future__ import annotations

import gc
from typing import Sequence

from tlstudio.cli import commands


def main(argv: Sequence[str] | None = None) -> int:
    """The ``tlstudio-cli`` program: ``commands.main``, then a quick exit.

    After a command the process holds millions of objects (torch, timm, torchvision's
    registrations); Python's final garbage collection walks them all on the way out, ~1 s on
    these machines. Frozen, they are left to the operating system (files are closed and
    ``atexit`` handlers still run; only objects in reference cycles skip their finalisers).
    In-process callers (tests) use ``commands.main``, which freezes nothing.
    """
    code = commands.main(argv)
    gc.freeze()
    return code


__all__ = ["main"]
