"""MODEL_CARD.md: what an exported model is, what it was trained on, how good it is, and its limits.

Written into every bundle (``MODEL_CARD.md``) and beside every exported file (``NAME.MODEL_CARD.md``),
from what the run knows and nothing else: model.json (model, classes, preprocessing, calibration),
metrics.json (figures and where they were measured), split.json (samples per class and split),
the project snapshot (the data's folder or file *name* — never a full machine path), the
out-of-fold predictions of a searched head (per-class figures) and the export's verification
report. What the run does not know is said to be unknown, not guessed. The first line marks the
file as TL Studio's, so a later export replaces it and never a card the user wrote.
"""
from __future__ import annotations

import datetime
import math
import os
from pathlib import Path

from tlstudio.core import atomic
from tlstudio.core.data.modality import modality_for
from tlstudio.core.errors import TLStudioError
from tlstudio.core.runs.evaluate import SPLITS, heldout_report
from tlstudio.core.runs.export_report import table_rows
from tlstudio.core.runs.folder import LoadedModel
from tlstudio.core.runs.metric_names import source_name
from tlstudio.core.runs.run_folder import RunFolder

CARD_NAME = "MODEL_CARD.md"
CARD_MARK = "<!-- TL Studio model card: written by the export; a new export replaces it -->"
SMALL_CLASS = 30            # fewer training samples than this in a class: figures for it are rough


def is_card(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().strip() == CARD_MARK
    except (OSError, UnicodeDecodeError):
        return False


def _counts(folder: RunFolder, classes: list[str]) -> dict[str, list[int]]:
    """{split: samples per class} from split.json ({} when the run has none)."""
    try:
        split = folder.split_rows() or {}
    except TLStudioError:
        return {}
    out = {}
    for name in SPLITS:
        rows = split.get(name) or []
        counts = [0] * len(classes)
        for row in rows:
            if isinstance(row, (list, tuple)) and len(row) >= 2 and isinstance(row[1], int) \
                    and 0 <= row[1] < len(classes):
                counts[row[1]] += 1
        out[name] = counts
    return out


def _source_name(project: dict | None) -> str | None:
    data = (project or {}).get("data") if isinstance(project, dict) else None
    path = data.get("path") if isinstance(data, dict) else None
    return Path(str(path)).name if path else None


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _metrics_section(metrics: dict, heldout: dict | None) -> tuple[list[str], list[str]]:
    """(the Metrics section's lines, limits the figures imply)."""
    lines, limits = ["## Metrics", ""], []
    rows = []
    for key, source_key, count_key in (("val_accuracy", "accuracy_source", "val_images"),
                                       ("test_accuracy", None, "test_images")):
        value = metrics.get(key)
        if not isinstance(value, (int, float)):
            continue
        where = source_name(metrics.get(source_key) if source_key else "test split") or \
            ("validation split" if key.startswith("val") else "test split")
        n = int(heldout["samples"]) if key == "val_accuracy" and heldout else int(metrics.get(count_key) or 0)
        interval = ""
        if n:
            lo, hi = wilson_interval(round(value * n), n)
            interval = f"{100 * lo:.1f}–{100 * hi:.1f} %"
            if hi - lo > 0.1:
                limits.append(f"The accuracy is measured on {n} samples only: its 95 % interval is "
                              f"{interval}, so small differences between models are not meaningful.")
        rows.append(f"| Accuracy | {100 * value:.1f} % | {where} | {n or '?'} | {interval or '—'} |")
    # Per class, or per label for a multi-label run (whose held-out report names them so).
    per_class = (heldout.get("per_class") or heldout.get("per_label") or {}) if heldout else {}
    if heldout and isinstance(heldout.get("macro_f1"), (int, float)):
        rows.append(f"| Macro F1 | {heldout['macro_f1']:.3f} | {source_name(heldout.get('source'))} | "
                    f"{heldout['samples']} | — |")
    if not rows:
        return lines + ["The run recorded no metrics.", ""], limits
    lines += ["| Metric | Value | Measured on | Samples | 95 % interval |", "|---|---|---|---|---|", *rows, ""]
    if metrics.get("accuracy_source"):
        lines += [f"How: {metrics['accuracy_source']}.", ""]
    if per_class:
        lines += [f"Per class ({source_name(heldout.get('source'))}):", "",
                  "| Class | Precision | Recall | F1 | Samples |", "|---|---|---|---|---|"]
        for name, m in per_class.items():
            lines.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
        lines.append("")
        weakest = min(per_class.items(), key=lambda kv: kv[1]["recall"])
        if weakest[1]["recall"] < 0.9:
            limits.append(f"It is weakest on class '{weakest[0]}' (recall {weakest[1]['recall']:.2f}): expect "
                          "more mistakes there than the overall accuracy suggests.")
    return lines, limits


def _base_words(project: dict | None) -> str:
    """How the base was used, from the project snapshot: pretrained or not, frozen or fine-tuned."""
    if not isinstance(project, dict):
        return "pretrained; how it was trained is not recorded with this model"
    model, finetune = project.get("model") or {}, project.get("finetune") or {}
    origin = "random initial weights" if model.get("weights") == "none" else "pretrained weights"
    tuned = (f"its last {finetune.get('unfreeze_last')} blocks fine-tuned" if finetune.get("enabled")
             else "frozen")
    return f"{origin}, {tuned}"


def _calibration_section(info: dict, metrics: dict) -> list[str]:
    lines = ["## Calibration", ""]
    calibration = info.get("calibration")
    if isinstance(calibration, dict) and calibration.get("temperature"):
        t = float(calibration["temperature"])
        lines.append(f"Temperature scaling, T = {t:.3f}, fitted on {calibration.get('fitted_on', 'held-out predictions')}; "
                     "it is folded into the output layer, so the exported probabilities are the calibrated ones "
                     "(the predicted class never changes).")
        if isinstance(metrics.get("ece_before"), (int, float)) and isinstance(metrics.get("ece_after"), (int, float)):
            lines.append(f"Expected calibration error (15 bins): {metrics['ece_before']:.3f} before, "
                         f"{metrics['ece_after']:.3f} after.")
    else:
        lines.append("No calibration was fitted: the probabilities are the softmax of the head's outputs and may be "
                     "over- or under-confident.")
    return lines + [""]


def _data_section(modality_name: str, project: dict | None, counts: dict, classes: list[str], noun: str) -> list[str]:
    lines = ["## Data", ""]
    source = _source_name(project)
    lines.append(f"- Modality: {modality_name} ({noun})")
    lines.append(f"- Source: `{source}`" if source else "- Source: not recorded with this model")
    data = (project or {}).get("data") if isinstance(project, dict) else None
    if isinstance(data, dict):
        excluded, relabelled = len(data.get("exclusions") or []), len(data.get("label_overrides") or {})
        if excluded or relabelled:
            lines.append(f"- Curation: {excluded} samples excluded, {relabelled} relabelled in the project")
    if counts:
        sizes = ", ".join(f"{name} {sum(c)}" for name, c in counts.items())
        lines.append(f"- Split sizes: {sizes}" + (f" (seed {data.get('seed')})" if isinstance(data, dict)
                                                  and "seed" in data else ""))
    lines.append("")
    return lines


def _classes_section(classes: list[str], counts: dict) -> list[str]:
    lines = [f"## Classes ({len(classes)})", ""]
    if counts:
        names = list(counts)
        lines += ["| # | Class | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        for i, name in enumerate(classes):
            lines.append(f"| {i} | {name} | " + " | ".join(str(counts[s][i]) for s in names) + " |")
    else:
        lines += [f"{i}. {name}" for i, name in enumerate(classes)]
    return lines + [""]


def _verification_section(report: dict | None) -> list[str]:
    lines = ["## Verification of this export", ""]
    if not report:
        return lines + ["No verification report was made.", ""]
    headers, rows = table_rows(report)
    where = report.get("evaluated_on") or "sample inputs"
    lines += [f"Each file was run next to the PyTorch model on {report['samples']} samples of the {where} "
              f"(machine: {report['machine'].get('cores')} cores, load average "
              f"{(report['machine'].get('load_average') or ['?'])[0]}; timings are of this machine at that time).", "",
              "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines.append("")
    for e in report.get("exports", []):
        if e.get("method") and e.get("precision") != "fp32":
            lines.append(f"- {e['file']}: {e['method']}.")
        lines += [f"- **{e['file']}**: {w}" for w in e.get("warnings", [])]
    if report.get("note"):
        lines.append(f"- {report['note']}")
    return lines + [""]


def build_card(loaded: LoadedModel, run_dir: str | os.PathLike, report: dict | None = None, *,
               unfinished: str | None = None) -> str:
    """The model card's Markdown for ``loaded``, the model of the run (or bundle) ``run_dir``."""
    folder = RunFolder(run_dir)
    info = loaded.info
    classes = list(loaded.classes)
    modality = modality_for(loaded.task)
    noun = modality.noun
    try:
        metrics, project = folder.metrics(), folder.project_dict()
        heldout = heldout_report(run_dir)
    except TLStudioError:
        metrics, project, heldout = {}, None, None
    counts = _counts(folder, classes)
    head = info.get("head", {}).get("layers", []) if isinstance(info.get("head"), dict) else []
    date = datetime.date.today().isoformat()
    lines = [CARD_MARK, f"# Model card: {info.get('model_name', 'model')} → {len(classes)} classes", "",
             f"Written by TL Studio on {date} from the run `{Path(run_dir).absolute().name}`.", "",
             "## Model", "",
             f"- Base network: `{info.get('model_name')}` ({_base_words(project)}), with a new head "
             f"({len(head)} layers before the {len(classes)}-way output)",
             f"- Input ({noun}): " + ", ".join(f"{k} {v}" for k, v in modality.describe_preprocessing(
                 loaded.preprocessing).items() if k != "tokenizer_sha256"),
             f"- Output: one probability per class (softmax), in the order of the table below", ""]
    if unfinished:
        lines[-1:-1] = [f"- **Unfinished run**: {unfinished}; these are its best weights so far"]
    lines += _classes_section(classes, counts)
    lines += _data_section(loaded.task, project, counts, classes, noun)
    metric_lines, limits = _metrics_section(metrics, heldout)
    lines += metric_lines
    lines += _calibration_section(info, metrics)
    lines += _verification_section(report)
    trained_on = info.get("trained_on") if isinstance(info.get("trained_on"), list) else ["train"]
    lines += _use_and_limits(classes, counts, noun, limits, report, project, [str(s) for s in trained_on])
    return "\n".join(lines).rstrip() + "\n"


def _use_and_limits(classes: list[str], counts: dict, noun: str, limits: list[str], report: dict | None,
                    project: dict | None, trained_on: list[str]) -> list[str]:
    source = _source_name(project)
    lines = ["## Intended use", "",
             f"Sorting {noun} into the {len(classes)} classes above, when they resemble the training data"
             + (f" (`{source}`)" if source else "") + ". Check its predictions on a sample of your own "
             f"{noun} before relying on it.", "", "## Limits", "",
             f"- It knows only these {len(classes)} classes: anything else is still put into one of them "
             "(there is no \"none of these\"); a low top probability is the only hint."]
    used = [s for s in trained_on if counts.get(s)]
    if used:
        per_class = [sum(counts[s][i] for s in used) for i in range(len(classes))]
        smallest = min(range(len(classes)), key=lambda i: per_class[i])
        lines.append(f"- The final head trained on {sum(per_class)} {noun} ({' + '.join(used)} split"
                     f"{'s' if len(used) > 1 else ''}); the smallest class, '{classes[smallest]}', has "
                     f"{per_class[smallest]}" + (" — too few for its figures to be more than rough."
                                                 if per_class[smallest] < SMALL_CLASS else "."))
    lines += [f"- {text}" for text in limits]
    lines.append(f"- It was not tested on {noun} from other sources than its training data (another camera, "
                 "author, place or time); how well it does there is unknown.")
    for e in (report or {}).get("exports", []):
        lines += [f"- {e['file']}: {w}" for w in e.get("warnings", [])]
    return lines + [""]


def write_card(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    atomic.write_text(path, text)
    return path


__all__ = ["CARD_NAME", "build_card", "is_card", "wilson_interval", "write_card"]
