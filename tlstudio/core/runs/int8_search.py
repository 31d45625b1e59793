"""Mixed-precision INT8: keep the parts of a graph that cost the most agreement in FP32.

After a first INT8 pass over every node, the search measures each *node group* (a block of the
network, found from the exporter's module scopes, or a run of nodes in graph order; plus the
depthwise convolutions together) on held-out samples of the training split: quantized with that
group alone left in FP32, how close do the outputs come to the FP32 file's? Groups are then kept
in FP32 one at a time, the most helpful first, each kept only when it really brings the outputs
closer, until the top-1 agreement on the held-out samples reaches HOLDOUT_TARGET — or keeping the
next group would make the file less than ``size_target`` times smaller than FP32, or the time
budget (``budget_s``) is spent. The samples never come from the split the verification report
measures on: tuning on it would make the report's agreement optimistic.

``search`` knows nothing of onnxruntime: it gets a function that writes a file quantized with
given nodes excluded, and one that measures a file (``Outcome``).
"""
from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from tlstudio.core.progress import JobState, check

HOLDOUT_TARGET = 0.995          # top-1 agreement with FP32 on the held-out training samples
SEARCH_BUDGET_S = 240.0         # the search stops trying groups after this long (one more trial may finish) ...
SENSITIVITY_SHARE = 0.6         # ... and stops measuring single groups after this share of it (time to combine them)
MAX_GROUPS = 24                 # blocks of a larger network are merged into this many runs in graph order
DEPTHWISE = "depthwise convolutions"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A quantized file measured against FP32 on the held-out samples."""
    agreement: float            # share of samples whose top-1 class is FP32's
    divergence: float           # mean total-variation distance between the two class-probability vectors
    file_bytes: int

    def as_dict(self) -> dict:
        return {"holdout_agreement": self.agreement, "holdout_divergence": self.divergence,
                "file_bytes": self.file_bytes}


@dataclasses.dataclass
class SearchResult:
    kept_groups: list[str]
    kept_nodes: list[str]
    first: Outcome              # every node quantized
    final: Outcome
    trials: int
    seconds: float
    reached: bool               # final.agreement >= target
    stopped: str                # why the search ended, one phrase


def probabilities(outputs: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (what the verification report compares too)."""
    shifted = outputs - outputs.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def compare(reference: np.ndarray, outputs: np.ndarray, file_bytes: int) -> Outcome:
    """Outcome of ``outputs`` against FP32's ``reference`` (both: samples x classes, raw outputs)."""
    ref, got = probabilities(reference.astype(np.float64)), probabilities(outputs.astype(np.float64))
    agreement = float((ref.argmax(-1) == got.argmax(-1)).mean())
    divergence = float(0.5 * np.abs(ref - got).sum(-1).mean())
    return Outcome(agreement, divergence, file_bytes)


def least_certain(outputs: np.ndarray, keep: int) -> np.ndarray:
    """Indices of the ``keep`` rows whose top class leads the runner-up by the smallest probability."""
    probs = np.sort(probabilities(outputs.astype(np.float64)), axis=-1)
    margin = probs[:, -1] - probs[:, -2] if probs.shape[-1] > 1 else probs[:, -1]
    return np.sort(np.argsort(margin, kind="stable")[:keep])


# --- node groups -------------------------------------------------------------------------------------

def _scope(node) -> list[str]:
    """The module path of a node (``["model", "base", "blocks", "3", "1", ...]``), from the exporter's
    metadata (its last level names the operation itself) or a TorchScript-style ``/a/b/Op`` name;
    [] when the graph does not say."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes" and prop.value:
            levels = [p.strip(" '\"") for p in prop.value.strip("[]").split(",")][:-1]
            levels = [level for level in levels if level]
            if levels:
                return [p for p in re.split(r"[./]", levels[-1]) if p]
    if node.name.startswith("/"):
        return [p for p in re.split(r"[./]", node.name)[:-1] if p]
    return []


def _block_key(scope: list[str]) -> str:
    """Where a node sits, at block granularity: up to two levels below the first numbered level
    (``base.blocks.3.1``), or the first four levels when no level is numbered (``base.base.embeddings``)."""
    for i, part in enumerate(scope):
        if part.isdigit():
            end = i + 1
            while end < len(scope) and scope[end].isdigit() and end < i + 2:
                end += 1
            return ".".join(scope[:end])
    return ".".join(scope[:4]) if scope and not scope[0].startswith("_") else "other"


def _is_depthwise(node, weights: dict) -> bool:
    if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in weights:
        return False
    group = next((a.i for a in node.attribute if a.name == "group"), 1)
    return group > 1 and group == weights[node.input[1]].dims[0]


def node_scopes(model) -> dict[str, list[str]]:
    """{node name: module path} of a graph as exported (onnxruntime's pre-processing drops the
    exporter's metadata but keeps the node names)."""
    return {n.name: _scope(n) for n in model.graph.node if n.name}


def node_groups(model, op_types: Sequence[str] | None = None, max_groups: int = MAX_GROUPS,
                scopes: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """{group name: node names}: the quantizable nodes of ``model`` (an ``onnx.ModelProto``) in blocks,
    in graph order, and the depthwise convolutions as one more group when there are any. Nodes
    without names cannot be excluded and are left out. ``op_types``: only nodes of these types;
    ``scopes``: module paths by node name (``node_scopes`` of the exported graph), else the model's own."""
    weights = {init.name: init for init in model.graph.initializer}
    nodes = [n for n in model.graph.node if n.name and (op_types is None or n.op_type in op_types)]
    scopes = scopes if scopes is not None else node_scopes(model)
    blocks: dict[str, list[str]] = {}
    for node in nodes:
        blocks.setdefault(_block_key(scopes.get(node.name, [])), []).append(node.name)
    blocks = _with_weights(blocks, {n.name for n in nodes if any(i in weights and len(weights[i].dims) >= 2
                                                                  for i in n.input)})
    if len(blocks) <= 1 or len(blocks) > max_groups:     # no usable scopes: runs of nodes in graph order
        blocks = _runs(blocks, nodes, max_groups)
    depthwise = [n.name for n in nodes if _is_depthwise(n, weights)]
    if depthwise:
        blocks[DEPTHWISE] = depthwise
    return blocks


def _with_weights(blocks: dict[str, list[str]], weighted: set[str]) -> dict[str, list[str]]:
    """Blocks without a weighted node (an activation, a reshape) join the block before them: alone in
    FP32 they only break a quantized chain (measured: Lite0's stem activation alone in FP32 cut
    agreement from 99 % to 95 %), and each group costs a trial."""
    merged: dict[str, list[str]] = {}
    leading: list[str] = []
    for name, members in blocks.items():
        if any(m in weighted for m in members):
            merged[name], leading = leading + members, []
        elif merged:
            merged[list(merged)[-1]].extend(members)
        else:
            leading.extend(members)
    return merged if merged and not leading else blocks


def _runs(blocks: dict[str, list[str]], nodes: list, max_groups: int) -> dict[str, list[str]]:
    """About ``max_groups`` consecutive runs: of whole blocks when there are scopes, else of nodes."""
    if len(blocks) > max_groups:
        names = list(blocks)
        size = -(-len(names) // max_groups)
        return {f"{chunk[0]} … {chunk[-1]}" if len(chunk) > 1 else chunk[0]:
                [n for name in chunk for n in blocks[name]]
                for chunk in (names[i:i + size] for i in range(0, len(names), size))}
    size = max(1, -(-len(nodes) // max_groups))
    runs = [nodes[i:i + size] for i in range(0, len(nodes), size)]
    return {run[0].name if len(run) == 1 else f"{run[0].name} … {run[-1].name}": [n.name for n in run]
            for run in runs}


# --- the search ----------------------------------------------------------------------------------------

Quantizer = Callable[[list[str], Path], None]       # (node names to keep in FP32, where to write the file)
Measurer = Callable[[Path], Outcome]


def search(groups: dict[str, list[str]], quantize: Quantizer, measure: Measurer, fp32_bytes: int, work: Path,
           out_path: Path, target: float = HOLDOUT_TARGET, size_target: float = 2.0,
           budget_s: float = SEARCH_BUDGET_S, job: JobState | None = None) -> SearchResult:
    """Write the chosen mixed-precision file to ``out_path`` (see the module docstring); ``check(job)``
    before each trial (a cancel leaves nothing at ``out_path``)."""
    start = time.monotonic()
    trials = 0

    def trial(kept: list[str]) -> tuple[Path, Outcome]:
        nonlocal trials
        check(job)
        trials += 1
        path = work / f"trial{trials}.onnx"
        quantize(sorted({n for g in kept for n in groups[g]}), path)
        return path, measure(path)

    def small_enough(outcome: Outcome) -> bool:
        return fp32_bytes / max(1, outcome.file_bytes) >= size_target

    best_path, first = trial([])
    best, kept, too_large = first, [], []
    stopped = "every node quantized reaches the target"
    if first.agreement < target:
        helpful = []
        for name in groups:                         # sensitivity: each group alone in FP32
            if time.monotonic() - start > SENSITIVITY_SHARE * budget_s:
                break
            path, outcome = trial([name])
            path.unlink()
            if not small_enough(outcome):
                too_large.append(name)
            elif outcome.divergence < first.divergence:
                helpful.append((outcome.divergence, -outcome.agreement, name))
        for _, _, name in sorted(helpful):          # most helpful first, each kept only when it still helps
            if time.monotonic() - start > budget_s:
                break
            path, outcome = trial(kept + [name])
            if not small_enough(outcome):
                too_large.append(name)
                path.unlink()
            elif outcome.agreement > best.agreement or (outcome.agreement == best.agreement
                                                        and outcome.divergence < best.divergence):
                best_path.unlink()
                best_path, best, kept = path, outcome, kept + [name]
                if best.agreement >= target:
                    break
            else:
                path.unlink()
        stopped = _why_stopped(best.agreement >= target, time.monotonic() - start > budget_s, budget_s,
                               too_large, size_target)
    best_path.replace(out_path)
    return SearchResult(kept, sorted({n for g in kept for n in groups[g]}), first, best, trials,
                        time.monotonic() - start, best.agreement >= target, stopped)


def _why_stopped(reached: bool, out_of_time: bool, budget_s: float, too_large: list[str], size_target: float) -> str:
    if reached:
        return "the target is reached"
    if out_of_time:
        return f"the time budget ({budget_s:.0f} s) ran out"
    if too_large:
        return (f"keeping {', '.join(too_large[:3])}{' …' if len(too_large) > 3 else ''} in FP32 as well would "
                f"make the file less than {size_target:.0f}x smaller")
    return "keeping any other group in FP32 does not bring the outputs closer"


__all__ = ["DEPTHWISE", "HOLDOUT_TARGET", "Outcome", "SEARCH_BUDGET_S", "SearchResult", "compare", "least_certain",
           "node_groups", "node_scopes", "probabilities", "search"]
