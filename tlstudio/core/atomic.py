"""Atomic file writes: write to a temporary file beside the target, then rename.

A crash never leaves a half-written file behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto target on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _new_temp_file(target)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _new_temp_file(target: Path) -> Path:
    """An empty file beside target, created with the user's normal permissions.

    ``tempfile.mkstemp`` creates files 0600, which the rename would then give to
    every file the app writes; ``os.open`` with 0666 lets the umask decide, as for
    any file the user saves.
    """
    for _ in range(100):
        candidate = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return candidate
    raise FileExistsError(f"Could not create a temporary file beside {target}")


def new_temp_dir(parent: str | os.PathLike, name: str) -> Path:
    """An empty hidden folder in ``parent``, with the user's normal permissions (mkdtemp's are 0700)."""
    parent = Path(parent)
    for _ in range(100):
        candidate = parent / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            os.mkdir(candidate, 0o777)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"Could not create a temporary folder in {parent}")


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def write_text(target: str | os.PathLike, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike, obj: Any) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=False) + "\n")
