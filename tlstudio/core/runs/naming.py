"""Names of new run folders (no torch: the GUI names a run on its own thread when Start is pressed)."""
from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path


def new_run_dir(project_name: str, root: str | os.PathLike) -> Path:
    """A fresh ``root/<project-name>-<timestamp>`` folder name (not created)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", project_name or "project").strip("-.") or "project"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = Path(root) / f"{safe}-{stamp}"
    n = 2
    while candidate.exists():
        candidate = Path(root) / f"{safe}-{stamp}-{n}"
        n += 1
    return candidate


__all__ = ["new_run_dir"]
