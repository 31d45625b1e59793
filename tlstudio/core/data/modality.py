"""The modality seam: what the trainer, feature cache, evaluation and prediction need from a kind of data.

A Project's ``task`` ("image" or "text") picks a ``Modality`` through
``modality_for(task)``. Everything outside ``tlstudio.core.data`` that reads
samples goes through that object and never calls image (or text) code
directly; adding a modality means implementing this interface in
``core/data/<kind>_modality.py`` and adding one line to ``_REGISTERED`` below.

The interface (``Modality``, a structural Protocol: implementations do not
subclass it):

``name``
    The Project task it serves ("image", "text"); written to a run's
    ``model.json`` as ``task`` so evaluation and prediction pick it again.
``noun``
    What one sample is called in messages, plural ("images", "texts").
``base_word``
    What the pretrained part of the model is called in messages ("base", "encoder").
``default_model``
    The catalog name of the model a new project of this task starts with.
``default_lr``
    The epoch loop's head learning rate when the user left lr to the defaults.
``max_length_range`` / ``default_max_length``
    The (lowest, highest) input length in tokens a project may set, and the
    length used when it sets none (None for a modality without token lengths;
    a model card's own limit applies on top).
``shown_as_thumbnails``
    Whether a sample is shown as a picture (the Audit tab's thumbnail column).
``curation_on_disk``
    Whether exclusions and relabels may be applied to the dataset's files (moved
    into class folders); otherwise they stay in the project.
``needs_workers``
    Whether reading a batch is heavy enough for DataLoader worker processes
    (image decoding: yes; text, tokenised once up front: no).
``zero_shot``
    The kind of zero-shot classifier that serves this modality (``core/zeroshot``'s registry:
    "sentence-encoder" for text, "clip" for images).
``few_label_tunings`` / ``few_label_plan(per_class, card) -> (mode, reason)``
    The base tunings a Project may ask for before the head ("contrastive": ``core/train/
    contrastive.py``; none for images), and the one "auto" considers for a run whose classes have
    ``per_class`` training labels with model ``card`` ("off" or one of the tunings);
    ``few_label_plan`` gives it with the reason for "off". A tuning "auto" considers runs only when
    the probe on the frozen features (``core/train/few_label_probe.py``) is below
    ``few_label_probe_enough`` (chance-corrected accuracy). ``few_label_choices`` ((value, wording)
    pairs), ``few_label_help`` (its tooltip) and ``few_label_summary`` (a line under it before any run
    decided; "" for none) are what the Train tab's "Few labels" box shows.
``scan(path, *, job=None, data=None) -> DatasetIndex``
    Index a dataset (folder, CSV, ...) and validate every sample. Bad samples
    go to ``DatasetIndex.skipped``; raises ``DatasetError`` when nothing can
    train (no usable samples, fewer than two classes) or on cancel. ``job``
    is a ``core.progress.JobState``: checked per sample, told the progress.
    ``data`` is the Project's ``DataSettings`` or None (text reads its
    ``text_column``/``label_column`` choice; None or unset: detected).
``claim(path, *, encoding=None) -> detect.Claim``
    How sure this modality is that ``path`` holds its kind of data (NOT, MAYBE,
    SURE) and what it saw, from a quick look. ``detect(path)`` below weighs the
    claims of all registered modalities; nothing else decides what a path is.
``sample_key(sample) -> list``
    JSON-able content identity of one sample (with its label) for the feature
    cache key: any change to what the model would see gives a different key
    (images: path, size, mtime; text: a hash of the text).
``library_versions() -> dict[str, str]``
    The versions of the libraries that decode/preprocess this modality's
    inputs (they enter the feature cache key beside torch).
``model_card(model_settings)``
    The card of the Project's ``model`` section (image: a vision ``ModelCard``;
    text: a ``TextModelCard`` for a catalog name or a Hugging Face folder).
    ``model.build.create_transfer_model`` builds either through the family adapters.
``offline_models() -> list[str]``
    The catalog names of this modality's models whose weights are on this computer
    without a download (bundled, cached, imported): "Compare models" candidates.
``preprocessing(card, model_settings)``
    The preprocessing a model card needs, with the Project's ``model``
    section applied (image: ``Preprocessing`` with ``image_size``). The
    object has ``to_dict()``; it is saved in ``model.json``.
``describe_preprocessing(pre) -> dict``
    What model.json records for ``pre``, without writing anything (a resume
    compares it with the run's own).
``save_preprocessing(pre, folder) -> dict``
    The JSON written to ``model.json`` of a run or bundle in ``folder``; it may
    place files there (text: the tokenizer and config in ``text_model/``).
``load_preprocessing(data, folder)``
    The inverse: the preprocessing of the run or bundle in ``folder``.
``batch_order(dataset, shuffled=None, *, batch_size=0, seed=0) -> list[int] | None``
    Without ``shuffled``: the order to run a dataset through the frozen base
    for the feature cache (text: by length, so batches pad little); None keeps
    the dataset's order. With ``shuffled`` (one epoch's random permutation of
    the training items): that epoch's training order, read ``batch_size`` at a
    time (text: grouped by length within random chunks, the batches shuffled
    with ``seed``); it must hold every index of ``shuffled`` once and may end
    with the only short batch. None keeps ``shuffled``.
``train_dataset(pre, samples, *, augment, seed, rounds=1) -> Dataset``
    Training inputs. Item ``k`` is ``(input, label)`` for sample ``k % n`` in
    round ``k // n`` (a round is an epoch, or a cached augmented view); the
    trainer's sampler asks for indices beyond ``len()`` to select a round,
    and a seeded augmentation must give the same view for the same
    (sample, round) whatever the worker count. ``augment`` is the Project's
    preset name ("none": the evaluation inputs).
``eval_dataset(pre, samples) -> Dataset``
    ``(input, label)`` items without augmentation.
``collate(items) -> (inputs, labels)``
    Makes a batch of dataset items (text: pads to the longest in the batch).
    ``inputs`` is a tensor or a dict/list of tensors (``loaders.to_device``
    moves any of them); ``labels`` a long tensor.
``input_reader(pre) -> Callable[[Sample], input]``
    Reads one sample for prediction/evaluation as a model input (one item as
    the datasets give it); raises ``TLStudioError``, ``OSError`` or
    ``ValueError`` for an unreadable sample, which is then reported and skipped.
``folder_inputs(folder, *, data=None, exclude=()) -> Iterator[FolderInput]``
    What a trained model of this modality predicts below ``folder`` ("Predict a
    folder"), lazily and in a stable order, each named by its path relative to
    the folder (images: every image file; text: each .txt file, each row of each
    CSV/TSV/JSONL). An input that cannot even be listed (an unreadable table)
    comes with its error instead of a sample. ``data`` as in ``scan``;
    ``exclude``: files never listed (the prediction file being written).
``preview(sample, size=256)``
    A small preview for the GUI: a PIL RGB image fitting ``size`` px (image)
    or the text (text).

Models take ``model(inputs)`` with ``inputs`` as collated, and return logits.

Module functions: ``detect(path)`` (the one answer to "what kind of dataset
is this path") and ``scan(path, kind)`` (detect when ``kind`` is not given,
then that modality's scan): the CLI, the GUI and the training checks scan
through it.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol, Sequence, runtime_checkable

from pathlib import Path

from tlstudio.core.data.detect import NOT, Claim
from tlstudio.core.data.image_modality import ImageModality
from tlstudio.core.data.index import DatasetIndex, Sample
from tlstudio.core.data.text_modality import TextModality
from tlstudio.core.errors import DatasetError, UndecidedDataError
from tlstudio.core.progress import JobState


@runtime_checkable
class Modality(Protocol):
    name: str
    noun: str
    base_word: str
    default_model: str
    default_lr: float
    max_length_range: tuple[int, int] | None
    default_max_length: int | None
    needs_workers: bool
    torchscript_export: bool
    shown_as_thumbnails: bool
    curation_on_disk: bool
    zero_shot: str
    few_label_tunings: tuple[str, ...]
    few_label_probe_enough: float
    few_label_choices: tuple[tuple[str, str], ...]
    few_label_help: str
    few_label_summary: str

    def few_label_plan(self, per_class: Sequence[int], card: Any) -> tuple[str, str]: ...

    def scan(self, path: Any, *, job: JobState | None = None, data: Any = None) -> DatasetIndex: ...

    def claim(self, path: Any, *, encoding: str | None = None) -> Claim: ...

    def sample_key(self, sample: Sample) -> list: ...

    def library_versions(self) -> dict[str, str]: ...

    def model_card(self, model_settings: Any) -> Any: ...

    def offline_models(self) -> list[str]: ...

    def preprocessing(self, card: Any, model_settings: Any) -> Any: ...

    def describe_preprocessing(self, pre: Any) -> dict: ...

    def save_preprocessing(self, pre: Any, folder: Any) -> dict: ...

    def load_preprocessing(self, data: dict, folder: Any) -> Any: ...

    def batch_order(self, dataset: Any, shuffled: Sequence[int] | None = None, *, batch_size: int = 0,
                    seed: int = 0) -> list[int] | None: ...

    def train_dataset(self, pre: Any, samples: Sequence[Sample], *, augment: str, seed: int,
                      rounds: int = 1) -> Any: ...

    def eval_dataset(self, pre: Any, samples: Sequence[Sample]) -> Any: ...

    def collate(self, items: list) -> Any: ...

    def input_reader(self, pre: Any) -> Callable[[Sample], Any]: ...

    def folder_inputs(self, folder: Any, *, data: Any = None, exclude: Sequence[Any] = ()) -> Iterator[Any]: ...

    def preview(self, sample: Sample, size: int = 256) -> Any: ...


_REGISTERED: dict[str, Modality] = {m.name: m for m in (ImageModality(), TextModality())}


def register(modality: Modality) -> None:
    """Make ``modality`` available to ``modality_for(modality.name)`` (replacing one of that name)."""
    if not isinstance(modality, Modality):
        raise TypeError(f"{modality!r} does not implement the Modality interface")
    _REGISTERED[modality.name] = modality


def unregister(name: str) -> None:
    """Forget the modality registered as ``name`` (nothing happens when there is none)."""
    _REGISTERED.pop(name, None)


def modality_for(task: str) -> Modality:
    """The modality of a Project task ("image", "text")."""
    try:
        return _REGISTERED[str(task)]
    except KeyError:
        known = ", ".join(sorted(_REGISTERED))
        raise DatasetError(f"TL Studio cannot train a {task!r} task here; available: {known}.") from None


def task_default_model(task: str, current: str) -> str:
    """The model a project of ``task`` holds when it holds ``current`` without the user choosing one:
    another task's default model (a new Project starts with the image default) becomes this task's
    default; any other model stays."""
    own = modality_for(task).default_model
    others = {m.default_model for m in _REGISTERED.values()} - {own}
    return own if current in others else current


def tasks() -> list[str]:
    """The tasks a modality is registered for."""
    return sorted(_REGISTERED)



def detect(path: Any, *, encoding: str | None = None) -> str:
    """The task whose modality claims ``path`` most surely. Raises ``DatasetError`` for a missing
    path and ``UndecidedDataError`` (saying what was found) when no claim is stronger than the rest."""
    if not str(path or "").strip():
        raise DatasetError("No dataset chosen; pick a folder of class sub-folders or a data file.")
    target = Path(path).expanduser()
    if not target.exists():
        raise DatasetError(f"The dataset '{path}' does not exist.")
    claims = {name: m.claim(target, encoding=encoding) for name, m in sorted(_REGISTERED.items())}
    best = max(c.strength for c in claims.values())
    winners = [name for name, c in claims.items() if c.strength == best]
    if best > NOT and len(winners) == 1:
        return winners[0]
    from tlstudio.core.data.detect import peek_table
    from tlstudio.core.data.table_read import empty_table_error

    peek = peek_table(target, encoding)
    if peek is not None and not any(any(cell.strip() for cell in row) for row in peek.rows):
        raise empty_table_error(target.name)
    found = peek.describe(target.name) if peek is not None else f"'{target.name}'"
    why = "; ".join(f"as {_REGISTERED[name].noun}: {claims[name].reason}" for name in claims)
    raise UndecidedDataError(f"{found} ({why})", sorted(winners if best > NOT else claims))


def scan(path: Any, kind: str | None = None, *, data: Any = None, job: JobState | None = None) -> DatasetIndex:
    """Scan ``path`` as ``kind`` ("image", "text"; None: ``detect`` it). ``data`` (the Project's
    DataSettings or None) and ``job`` (a JobState) as in ``Modality.scan``; ``data.encoding``
    names the encoding of a table."""
    kind = kind or detect(path, encoding=getattr(data, "encoding", None) or None)
    return modality_for(kind).scan(path, job=job, data=data)
