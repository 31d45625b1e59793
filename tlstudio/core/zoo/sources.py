"""Where a model's weights come from: a small typed value, parsed once.

In a project file the source is one JSON string, as it always was: "auto"
(bundled, else the local cache), "none" (random initialisation), "download",
or the path of a weights file the user imported.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

AUTO, NONE, DOWNLOAD, FILE = "auto", "none", "download", "file"
KEYWORDS = (AUTO, NONE, DOWNLOAD)


@dataclass(frozen=True)
class WeightsSource:
    kind: str                    # "auto" | "none" | "download" | "file"
    path: str | None = None      # the file, for kind "file"

    def __post_init__(self) -> None:
        if self.kind not in KEYWORDS + (FILE,):
            raise ValueError(f"unknown weights source kind {self.kind!r}")
        if (self.kind == FILE) != bool(self.path):
            raise ValueError("a weights file source needs a path, and only it has one")

    @classmethod
    def parse(cls, value: "WeightsSource | str | os.PathLike | None") -> "WeightsSource":
        """A keyword, a file path, None (= "none") or a WeightsSource (returned as is)."""
        if isinstance(value, WeightsSource):
            return value
        if value is None:
            return cls(NONE)
        text = os.fspath(value)
        if not isinstance(text, str):
            raise TypeError(f"a weights source is a keyword or a file path, not {type(value).__name__}")
        if text in KEYWORDS:
            return cls(text)
        if not text.strip():
            raise ValueError("an empty weights source")
        return cls(FILE, text)

    @classmethod
    def file(cls, path: "str | os.PathLike") -> "WeightsSource":
        return cls(FILE, str(Path(path).absolute()))

    def to_json(self) -> str:
        return self.path if self.kind == FILE else self.kind

    @property
    def is_file(self) -> bool:
        return self.kind == FILE

    def __str__(self) -> str:
        return self.to_json()


AUTO_SOURCE = WeightsSource(AUTO)
