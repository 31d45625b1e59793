"""What "Try an image" / "Try a text" shows per task type: the top classes of a single-label run,
or every label of a multi-label run with its probability and threshold (those below it greyed).

A ``TryRows`` is what the page fills its table (and, for images, its captions) with; the page itself
(``panels/results_try.py``) never asks which task type it serves.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tlstudio.gui.jobs.results_jobs import TOP_K

RANKS = ("1st", "2nd", "3rd", "4th", "5th")
NO_LABEL = "(no label above its threshold)"


@dataclass
class TryRows:
    rows: list[tuple] = field(default_factory=list)
    tips: list[str] = field(default_factory=list)
    muted: set[int] = field(default_factory=set)        # rows shown greyed
    captions: list[tuple[str, str]] = field(default_factory=list)   # images: (caption, tooltip) per image
    note: str = ""


class SingleLabelTry:
    """The top 3 classes."""

    image_headers = ["Image"] + [f"{RANKS[i]} class" for i in range(TOP_K)]
    text_headers = ["Class", "Probability"]
    image_hint = f"Shows the top {TOP_K} predictions of the loaded run."

    def top_k(self, loaded) -> int:
        return TOP_K

    def images(self, predictions: list[dict], loaded) -> TryRows:
        out = TryRows()
        for p in predictions:
            cells = [f"{t['label']} {t['probability']:.1%}" for t in p["top_k"]][:TOP_K]
            out.captions.append((cells[0] if cells else "", f"{p['path']}\n" + "\n".join(cells)))
            out.rows.append(tuple([Path(p["path"]).name] + cells + [""] * (TOP_K - len(cells))))
            out.tips.append(p["path"])
        return out

    def text(self, prediction: dict, loaded) -> TryRows:
        top = prediction.get("top_k", [])
        return TryRows([(t["label"], f"{t['probability']:.1%}") for t in top], note=f"Top {len(top)} classes of the text above")


class MultiLabelTry:
    """Every label with its probability and threshold; the labels at or above it first, the rest greyed."""

    image_headers = ["Image", "Label", "Probability", "Threshold"]
    text_headers = ["Label", "Probability", "Threshold"]
    image_hint = ("Lists every label of the loaded run: those at or above the threshold stored in the run are "
                  "predicted, the rest greyed.")

    def top_k(self, loaded) -> int:
        return len(loaded.classes)

    def _labels(self, prediction: dict, loaded) -> list[tuple[str, float, float]]:
        """(label, probability, threshold), the predicted labels first, each part most probable first."""
        thresholds = dict(zip(loaded.classes, loaded.thresholds or [0.5] * len(loaded.classes)))
        scored = [(t["label"], float(t["probability"]), float(thresholds.get(t["label"], 0.5)))
                  for t in prediction.get("top_k", [])]
        return sorted(scored, key=lambda s: (s[1] < s[2], -s[1]))

    def images(self, predictions: list[dict], loaded) -> TryRows:
        out = TryRows()
        for p in predictions:
            labels = self._labels(p, loaded)
            chosen = [f"{name} {prob:.0%}" for name, prob, th in labels if prob >= th]
            out.captions.append(("\n".join(chosen[:2]) + (" …" if len(chosen) > 2 else "") if chosen else NO_LABEL,
                                 f"{p['path']}\n" + ("\n".join(chosen) if chosen else NO_LABEL)))
            for name, prob, th in labels:
                if prob < th:
                    out.muted.add(len(out.rows))
                out.rows.append((Path(p["path"]).name, name, f"{prob:.1%}", f"{th:.3f}"))
                out.tips.append(f"{p['path']}\n{name}: {prob:.1%} (threshold {th:.3f})")
        return out

    def text(self, prediction: dict, loaded) -> TryRows:
        out = TryRows()
        labels = self._labels(prediction, loaded)
        for name, prob, th in labels:
            if prob < th:
                out.muted.add(len(out.rows))
            out.rows.append((name, f"{prob:.1%}", f"{th:.3f}"))
        chosen = [name for name, prob, th in labels if prob >= th]
        out.note = (f"Predicted labels: {', '.join(chosen)}" if chosen else f"No label: {NO_LABEL[1:-1]}") + \
            " — the others greyed"
        return out
