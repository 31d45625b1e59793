"""Predictions with a trained model (or the bundled ImageNet model).

Samples are read through the model's ``Modality`` (images: the dataset
module's loader, EXIF orientation, any mode to RGB) and preprocessed with
the preprocessing saved alongside the model, so predictions match what the
model saw during validation. An unreadable sample yields an error entry; the
others are still predicted.
"""
from __future__ import annotations

import os
from typing import Callable, Iterator, Sequence

import torch

from tlstudio.core.data.images import load_image_rgb
from tlstudio.core.data.index import Sample
from tlstudio.core.data.loaders import to_device
from tlstudio.core.data.modality import Modality, modality_for
from tlstudio.core.errors import TLStudioError
from tlstudio.core.progress import JobState, check, set_progress
from tlstudio.core.data.transforms import Preprocessing


def read_image_input(path: str, transform) -> tuple[torch.Tensor | None, str | None]:
    """One image as a model input, or (None, why it could not be read)."""
    try:
        return transform(load_image_rgb(path)), None
    except TLStudioError as exc:
        return None, str(exc)
    except (OSError, ValueError) as exc:
        return None, f"Cannot read image {path}: {exc}."


def read_sample(reader: Callable[[Sample], object], sample: Sample) -> tuple[object | None, str | None]:
    """(model input, None) for ``sample`` read by ``reader``, or (None, why it could not be read)."""
    try:
        return reader(sample), None
    except TLStudioError as exc:
        return None, str(exc)
    except (OSError, ValueError) as exc:
        return None, f"Cannot read {sample.path}: {exc}."


@torch.inference_mode()
def batch_probabilities(model: torch.nn.Module, modality: Modality, read: Sequence[tuple[object | None, object]],
                        device: torch.device, probabilities: Callable[[torch.Tensor], torch.Tensor] | None = None
                        ) -> dict[int, torch.Tensor]:
    """{position: probabilities on CPU} for the items of ``read`` (``read_sample`` results) that were read;
    ``probabilities`` turns logits into probabilities (default: softmax over the classes)."""
    good = [i for i, (x, _) in enumerate(read) if x is not None]
    if not good:
        return {}
    inputs, _ = modality.collate([(read[i][0], 0) for i in good])
    logits = model(to_device(inputs, device)).float()
    rows = probabilities(logits) if probabilities is not None else torch.softmax(logits, dim=1)
    return dict(zip(good, rows.cpu()))


@torch.inference_mode()
def iter_sample_probabilities(model: torch.nn.Module, modality: Modality, preprocessing, samples: Sequence[Sample],
                              batch_size: int = 32, job: JobState | None = None,
                              probabilities: Callable[[torch.Tensor], torch.Tensor] | None = None
                              ) -> Iterator[tuple[Sample, torch.Tensor | None, str | None]]:
    """(sample, probabilities on CPU, None) or (sample, None, error) for each sample, in order.

    ``probabilities`` turns a batch of logits into probabilities (default: softmax over the classes;
    a multi-label model: ``torch.sigmoid``, see ``output_probabilities``). ``job`` is checked before
    each batch (cancel raises ``Cancelled``) and told the progress after it.
    """
    activation = probabilities
    model.eval()
    device = next(model.parameters()).device
    reader = modality.input_reader(preprocessing)
    samples = list(samples)
    batch_size = max(1, int(batch_size))
    set_progress(job, 0, len(samples))
    for start in range(0, len(samples), batch_size):
        check(job)
        chunk = samples[start:start + batch_size]
        read = [read_sample(reader, sample) for sample in chunk]
        probs = batch_probabilities(model, modality, read, device, activation)
        for i, sample in enumerate(chunk):
            yield sample, probs.get(i), read[i][1]
        set_progress(job, start + len(chunk), len(samples))


def output_probabilities(loaded) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """How ``loaded``'s logits become probabilities: sigmoid per label for a multi-label model, else
    None (softmax, ``iter_sample_probabilities``' default)."""
    return torch.sigmoid if getattr(loaded, "thresholds", None) is not None else None


def iter_probabilities(model: torch.nn.Module, preprocessing: Preprocessing, paths: Sequence[str],
                       batch_size: int = 32, job: JobState | None = None,
                       probabilities: Callable[[torch.Tensor], torch.Tensor] | None = None
                       ) -> Iterator[tuple[str, torch.Tensor | None, str | None]]:
    """(path, probabilities on CPU, None) or (path, None, error) for each image path, in order."""
    samples = [Sample(str(path), -1) for path in paths]
    for sample, probs, error in iter_sample_probabilities(model, modality_for("image"), preprocessing, samples,
                                                          batch_size, job, probabilities):
        yield sample.path, probs, error


def prediction_entry(path: str, probs: torch.Tensor, classes: Sequence[str], top_k: int,
                     thresholds: Sequence[float] | None = None) -> dict:
    """{path, label, probability, top_k: [{label, probability}]} of one sample's probabilities; a multi-label
    model (``thresholds``) adds ``labels``, every label at or above its threshold ``[{label, probability,
    threshold}]``, most probable first (``label`` is then the first of them, "" when none passes), and its
    ``top_k`` (each label's own probability, most probable first) holds every label of that set too."""
    labels = None
    if thresholds is not None:
        from tlstudio.core.runs.multilabel_metrics import label_sets

        labels = label_sets(probs.numpy()[None, :], thresholds, classes)[0]
    k = max(1, min(int(top_k), len(classes)))
    chosen = [int(i) for i in torch.topk(probs, k).indices]
    if labels:
        position = {str(name): j for j, name in enumerate(classes)}
        chosen += [position[e["label"]] for e in labels if position[e["label"]] not in chosen]
        chosen.sort(key=lambda j: -float(probs[j]))
    top = [{"label": classes[j], "probability": float(probs[j])} for j in chosen]
    entry = {"path": str(path), "label": top[0]["label"], "probability": top[0]["probability"], "top_k": top}
    if labels is not None:
        entry.update({"labels": labels, "label": labels[0]["label"] if labels else "",
                      "probability": labels[0]["probability"] if labels else 0.0})
    return entry


def _predict(model: torch.nn.Module, preprocessing: Preprocessing, classes: Sequence[str],
             paths: Sequence[str | os.PathLike], top_k: int, batch_size: int, job: JobState | None,
             thresholds: Sequence[float] | None = None) -> list[dict]:
    out = []
    activation = torch.sigmoid if thresholds is not None else None
    for path, probs, error in iter_probabilities(model, preprocessing, [str(p) for p in paths], batch_size, job,
                                                 activation):
        out.append({"path": path, "error": error} if probs is None
                   else prediction_entry(path, probs, classes, top_k, thresholds))
    return out


def predict_images(loaded, paths: Sequence[str | os.PathLike], top_k: int = 5,
                   batch_size: int = 32, job: JobState | None = None) -> list[dict]:
    """[{path, label, probability, top_k: [{label, probability}]}] (a multi-label model: with
    ``labels``, see ``prediction_entry``); unreadable -> {path, error}."""
    return _predict(loaded.model, loaded.preprocessing, loaded.classes, paths, top_k, batch_size, job,
                    loaded.thresholds)


def predict_texts(loaded, texts: Sequence[str], top_k: int = 5, batch_size: int = 32,
                  job: JobState | None = None) -> list[dict]:
    """Classify texts with a trained text model, in order (the GUI's "Try a text", the CLI).

    Each result is {text, label, probability, top_k: [{label, probability}]}; an empty
    text gives {text, error}. Raises ``TLStudioError`` when ``loaded`` is not a text model.
    """
    if str((loaded.info or {}).get("task", "image")) != "text":
        raise TLStudioError("This model classifies images, not texts; give it image files instead.")
    texts = [str(t) for t in texts]
    samples = [Sample(f"text {i + 1}", -1, t) for i, t in enumerate(texts)]
    good = [s for s in samples if s.text.strip()]
    found = {}
    for sample, probs, error in iter_sample_probabilities(loaded.model, modality_for("text"), loaded.preprocessing,
                                                          good, batch_size, job, output_probabilities(loaded)):
        found[sample.path] = (probs, error)
    out = []
    for sample in samples:
        probs, error = found.get(sample.path, (None, "The text is empty."))
        if probs is None:
            out.append({"text": sample.text, "error": error or "The text could not be read."})
        else:
            entry = prediction_entry(sample.path, probs, loaded.classes, top_k, loaded.thresholds)
            del entry["path"]
            out.append({"text": sample.text, **entry})
    return out


def predict_imagenet(paths: Sequence[str | os.PathLike], top_k: int = 5, model_name: str | None = None,
                     batch_size: int = 16, job: JobState | None = None) -> list[dict]:
    """Predict ImageNet classes with a pretrained network as it ships (no training needed)."""
    from tlstudio.core.zoo.bundled import imagenet_class_names
    from tlstudio.core.zoo.cards import DEFAULT_MODEL, get_card
    from tlstudio.core.zoo.weights import create_pretrained

    card = get_card(model_name or DEFAULT_MODEL)
    model = create_pretrained(card, "auto")
    names = imagenet_class_names()
    return _predict(model, card.preprocessing, names, paths, top_k, batch_size, job)
