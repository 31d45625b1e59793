"""The image ``Modality`` (see ``tlstudio.core.data.modality`` for the interface).

It wraps the image code: scanning and decoding (``images``), the transforms
built from a card's ``Preprocessing`` (``transforms``) and the seeded image
dataset (``loaders.SeededImages``). Those import torch, so they are imported
when first used: the GUI reads the modality's plain facts (noun, default model)
on its GUI thread.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Sequence

from tlstudio.core.data.detect import IMAGE_EXTENSIONS, MAYBE, Claim, claim_for_table_or_folder, image_folder_claim, image_table_claim
from tlstudio.core.data.folder_inputs import FolderInput, walk_files
from tlstudio.core.data.index import DatasetIndex, Sample, unlabeled_folder
from tlstudio.core.data.transforms import eval_transform, train_transform
from tlstudio.core.zoo.cards import DEFAULT_MODEL
from tlstudio.core.zoo.preprocessing import Preprocessing
from tlstudio.core.progress import JobState


def file_identity(path: str) -> list:
    """[path, size, mtime_ns]: a changed or replaced file gives a different identity."""
    try:
        st = os.stat(path)
        return [str(path), st.st_size, st.st_mtime_ns]
    except OSError:
        return [str(path), -1, -1]


class ImageReader:
    """Reads one sample's file as a preprocessed tensor (picklable, for DataLoader workers)."""

    def __init__(self, pre: Preprocessing):
        self.transform = eval_transform(pre)

    def __call__(self, sample: Sample):
        from tlstudio.core.data.images import load_image_rgb

        return self.transform(load_image_rgb(sample.path))


class ImageModality:
    name = "image"
    noun = "images"
    base_word = "base"
    needs_workers = True
    torchscript_export = True      # a traced image model runs without TL Studio
    shown_as_thumbnails = True
    curation_on_disk = True
    default_model = DEFAULT_MODEL
    default_lr = 1e-3                 # the epoch loop's head lr when the user left lr to the defaults
    max_length_range = None           # images have no token length
    default_max_length = None
    zero_shot = "clip"                # core/zeroshot: class names against images needs a CLIP-style model
    few_label_tunings = ()            # no contrastive tuning of an image base (core/train/contrastive.py)
    few_label_probe_enough = 0.0
    # The Train tab's "Few labels" box: nothing to choose for images.
    few_label_choices = (("auto", "Not used for images"),)
    few_label_help = ("Few-label tuning (contrastive pairs) is for text encoders. With few labelled images the "
                      "head is fitted on the pretrained base's features;\nlabel more where it helps most with "
                      "Label next (Data tab).")
    few_label_summary = ("Tuning on few labels is for text encoders: the head is fitted on the pretrained base. "
                         "Label next (Data tab) shows which images to label.")

    def few_label_plan(self, per_class: Sequence[int], card: Any) -> tuple[str, str]:
        """Image runs always fit the head on the pretrained base."""
        return "off", "few-label tuning is for text encoders"

    def scan(self, path: str | os.PathLike, *, job: JobState | None = None, data: Any = None) -> DatasetIndex:
        from tlstudio.core.data import images

        return images.scan(path, job=job, encoding=getattr(data, "encoding", None) or None,
                           task_type=getattr(data, "task_type", None) or None,
                           unlabeled_folder=unlabeled_folder(data))

    def claim(self, path: str | os.PathLike, *, encoding: str | None = None) -> Claim:
        """Class folders of images, or a table with a column of existing image paths."""
        return claim_for_table_or_folder(path, encoding, image_folder_claim, image_table_claim,
                                         Claim(MAYBE, "not a table or a folder"))

    def sample_key(self, sample: Sample) -> list:
        return file_identity(sample.path) + [int(sample.label)]

    def library_versions(self) -> dict[str, str]:
        import timm
        import torchvision
        return {"torchvision": torchvision.__version__.split("+")[0], "timm": timm.__version__}

    def model_card(self, model_settings: Any):
        from tlstudio.core.zoo.cards import get_card

        return get_card(model_settings.name)

    def offline_models(self) -> list[str]:
        """Catalog models whose weights are on this computer (bundled with the app or in a local cache)."""
        from tlstudio.core.zoo.cards import list_cards
        from tlstudio.core.zoo.weights import weight_source

        return [card.name for card in list_cards() if weight_source(card) in ("bundled", "cached")]

    def describe_preprocessing(self, pre: Preprocessing) -> dict:
        return pre.to_dict()

    def save_preprocessing(self, pre: Preprocessing, folder: str | os.PathLike) -> dict:
        return self.describe_preprocessing(pre)

    def load_preprocessing(self, data: dict, folder: str | os.PathLike) -> Preprocessing:
        return Preprocessing.from_dict(data)

    def batch_order(self, dataset: Any, shuffled: Sequence[int] | None = None, *, batch_size: int = 0,
                    seed: int = 0) -> list[int] | None:
        return None

    def preprocessing(self, card: Any, model_settings: Any) -> Preprocessing:
        """The card's preprocessing, at the Project's image size when one is set."""
        size = getattr(model_settings, "image_size", None)
        return card.preprocessing.with_input_size(size) if size else card.preprocessing

    def train_dataset(self, pre: Preprocessing, samples: Sequence[Sample], *, augment: str, seed: int,
                      rounds: int = 1):
        from tlstudio.core.data.loaders import ImageItem, SeededImages

        augmented = str(augment).lower() != "none"
        items = [ImageItem(s.path, s.label, 1 if augmented else 0, int(seed) if augmented else None)
                 for s in samples]
        return SeededImages(items, [eval_transform(pre), train_transform(pre, augment)], rounds=rounds)

    def eval_dataset(self, pre: Preprocessing, samples: Sequence[Sample]):
        from tlstudio.core.data.loaders import ImageItem, SeededImages

        return SeededImages([ImageItem(s.path, s.label) for s in samples], [eval_transform(pre)])

    def collate(self, items: list) -> Any:
        from torch.utils.data import default_collate

        return default_collate(items)

    def input_reader(self, pre: Preprocessing) -> Callable[[Sample], Any]:
        return ImageReader(pre)

    def folder_inputs(self, folder: str | os.PathLike, *, data: Any = None,
                      exclude: Sequence[str | os.PathLike] = ()) -> Iterator[FolderInput]:
        """Every file with an image extension below ``folder``; other files are not inputs."""
        for path, key in walk_files(folder, IMAGE_EXTENSIONS, exclude):
            yield FolderInput(key, Sample(path, -1))

    def preview(self, sample: Sample, size: int = 256):
        """A PIL RGB image fitting ``size`` px."""
        from tlstudio.core.data.images import load_image_rgb

        image = load_image_rgb(sample.path)
        image.thumbnail((int(size), int(size)))
        return image
