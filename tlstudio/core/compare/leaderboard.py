"""The leaderboard of a model comparison: one row per candidate, its Pareto flag, JSON, a text table.

Pure Python (no torch): the GUI reads a saved leaderboard on its own thread.
A row's ``accuracy`` / ``macro_f1`` are the searched head's held-out figures
(out-of-fold under k-fold cross-validation, or on the validation split for a
large set, as ``method`` says); ``latency_ms`` is one batch-1 forward pass of
base + head on this machine, in ``latency_runtime`` ("onnxruntime": the exported
ONNX model; "pytorch": the PyTorch model) as ``latency_how`` says.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tlstudio.core.atomic import write_json

FORMAT = 1
SUFFIX = ".compare.json"


@dataclass
class CandidateResult:
    model: str                       # catalog name (or model folder)
    weights: str = "auto"            # the weights source, as the project stores it
    family: str = ""
    accuracy: float | None = None    # held-out accuracy of the searched head
    macro_f1: float | None = None
    method: str = ""                 # "5-fold cross-validation" | "validation split"
    samples: int = 0                 # labelled samples the head search scored
    head: str = ""                   # the winning head ("linear", "hidden 128")
    feature_dim: int = 0
    input_size: str = ""             # "224 px", "128 tokens"
    params: int = 0                  # base + head
    file_bytes: int = 0              # the model's fp32 weights (tensor bytes)
    latency_ms: float | None = None  # one input, base + head, median
    latency_how: str = ""
    latency_runtime: str = ""        # "onnxruntime" (the exported model) | "pytorch"
    latency_runs: int = 0            # timed passes the median is of
    extract_rate: float | None = None   # samples per second through the base on this machine
    extract_seconds: float = 0.0     # this comparison's extraction (or cache read) time
    from_cache: bool = False         # the features came from the feature cache
    search_seconds: float = 0.0
    measure_seconds: float = 0.0     # measuring size and latency (the ONNX export included)
    pareto: bool = False             # no other candidate is at least as accurate and at least as fast
    error: str | None = None         # why this candidate has no figures

    @property
    def key(self) -> tuple[str, str]:
        return self.model, self.weights

    @property
    def ok(self) -> bool:
        return self.error is None and self.accuracy is not None and self.latency_ms is not None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CandidateResult":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class Leaderboard:
    task: str                        # the project's modality name
    noun: str                        # "images", "texts"
    data: str                        # the dataset's path
    classes: list[str] = field(default_factory=list)
    device: str = "cpu"
    candidates: list[CandidateResult] = field(default_factory=list)
    complete: bool = False           # every candidate asked for has a row
    seconds: float = 0.0
    created: str = ""

    def ranked(self) -> list[CandidateResult]:
        """Rows best first: accuracy, then macro-F1, then latency; rows without figures last."""
        def order(r: CandidateResult):
            if not r.ok:
                return (1, 0.0, 0.0, 0.0)
            return (0, -r.accuracy, -(r.macro_f1 or 0.0), r.latency_ms)
        return sorted(self.candidates, key=order)

    def best(self) -> CandidateResult | None:
        rows = [r for r in self.ranked() if r.ok]
        return rows[0] if rows else None

    def row(self, model: str, weights: str = "auto") -> CandidateResult | None:
        return next((r for r in self.candidates if r.key == (model, weights)), None)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "task": self.task, "noun": self.noun, "data": self.data,
                "classes": list(self.classes), "device": self.device, "complete": self.complete,
                "seconds": round(self.seconds, 2), "created": self.created,
                "candidates": [r.to_dict() for r in self.ranked()]}

    @classmethod
    def from_dict(cls, d: dict) -> "Leaderboard":
        return cls(task=d["task"], noun=d.get("noun", ""), data=d.get("data", ""), classes=list(d.get("classes", [])),
                   device=d.get("device", "cpu"), complete=bool(d.get("complete")),
                   seconds=float(d.get("seconds", 0.0)), created=d.get("created", ""),
                   candidates=[CandidateResult.from_dict(r) for r in d.get("candidates", [])])


def mark_pareto(rows: list[CandidateResult]) -> None:
    """Set ``pareto`` on each row: no other row is at least as accurate and at least as fast, and better in one."""
    done = [r for r in rows if r.ok]
    for r in rows:
        r.pareto = r.ok and not any(
            o is not r and o.accuracy >= r.accuracy and o.latency_ms <= r.latency_ms
            and (o.accuracy > r.accuracy or o.latency_ms < r.latency_ms) for o in done)


def leaderboard_path(project_file: str | Path | None, data_path: str) -> Path:
    """Where a project's comparison is saved: beside its project file (``<name>.compare.json``); an
    unsaved project's goes to the app's data folder, named after its dataset."""
    import hashlib

    if project_file:
        project_file = Path(project_file)
        return project_file.with_name(project_file.stem + SUFFIX)
    from tlstudio.core.paths import data_dir

    digest = hashlib.sha256(str(Path(data_path).absolute()).encode("utf-8")).hexdigest()[:12]
    return data_dir() / "compare" / f"{Path(data_path).stem or 'data'}-{digest}{SUFFIX}"


def save_leaderboard(board: Leaderboard, path: str | Path) -> Path:
    """Write the leaderboard JSON atomically (a crash never leaves half a file)."""
    write_json(path, board.to_dict())
    return Path(path)


def load_leaderboard(path: str | Path) -> Leaderboard | None:
    """A saved leaderboard, or None when there is none or it cannot be read."""
    try:
        return Leaderboard.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def human_bytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def human_params(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}K"


def format_leaderboard(board: Leaderboard) -> str:
    """The leaderboard as a text table, best first; '*' marks the Pareto front (accuracy vs latency)."""
    rate = board.noun or "samples"
    rows = board.ranked()
    width = max([len("model")] + [len(r.model) for r in rows])
    lines = [f"{'':1} {'model':<{width}} {'accuracy':>8} {'macro F1':>8} {'latency':>9} {rate + '/s':>9} "
             f"{'params':>7} {'size':>8}  head"]
    for r in rows:
        if not r.ok:
            lines.append(f"  {r.model:<{width}} {r.error or 'not measured'}")
            continue
        lines.append(f"{'*' if r.pareto else ' '} {r.model:<{width}} {r.accuracy:>8.3f} {r.macro_f1 or 0:>8.3f} "
                     f"{r.latency_ms:>6.1f} ms {r.extract_rate or 0:>9.1f} {human_params(r.params):>7} "
                     f"{human_bytes(r.file_bytes):>8}  {r.head}")
    ok = [r for r in rows if r.ok]
    if ok:
        lines.append(f"* Pareto front (none more accurate and faster). Accuracy: {ok[0].method}, "
                     f"{ok[0].samples} {rate}.")
        hows: dict[str, list[str]] = {}
        for r in ok:
            hows.setdefault(r.latency_how, []).append(r.model)
        runs = sorted({r.latency_runs for r in ok if r.latency_runs})
        passes = (f"; median of {runs[0]}" + (f"-{runs[-1]}" if len(runs) > 1 else "") + " passes") if runs else ""
        for how, models in hows.items():
            lines.append(f"Latency: {how}" + (f" ({', '.join(models)})" if len(hows) > 1 else "") + passes + ".")
    if not board.complete:
        lines.append("Not every candidate was measured (cancelled or failed); run again to finish.")
    return "\n".join(lines)
