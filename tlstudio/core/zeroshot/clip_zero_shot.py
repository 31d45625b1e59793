"""Zero-shot for images: class names against images, with a CLIP-style model the user already has.

None is bundled and none is downloaded: a model is used when the user points at a Hugging
Face folder of one (``model_folder``) or one sits in the local Hugging Face cache. A
CLIP-style model is one whose ``config.json`` names a joint image-text architecture
(``CLIP_MODEL_TYPES``); ``transformers``' ``AutoModel`` loads it with its processor, and
``get_image_features`` / ``get_text_features`` give the two embeddings whose cosine
CLIP was trained to make meaningful. When there is none, ``NoClipModel`` says so plainly.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import torch

from tlstudio.core.data.index import Sample
from tlstudio.core.errors import ModelError
from tlstudio.core.paths import hf_cache_dir
from tlstudio.core.zeroshot.prototypes import class_prompt
from tlstudio.core.progress import JobState, check, set_progress

CLIP_MODEL_TYPES = ("clip", "siglip", "siglip2", "chinese_clip", "altclip", "metaclip_2")
PROMPT = "a photo of a {}"
NO_MODEL = ("Zero-shot for images needs a CLIP-style model (e.g. openai/clip-vit-base-patch32), and none is "
            "on this computer: TL Studio bundles none. Choose the folder of one you have (a Hugging Face "
            "model folder), or put one in the Hugging Face cache ({cache}).")


class NoClipModel(ModelError):
    """No CLIP-style model is available locally."""


def is_clip_folder(folder: str | os.PathLike) -> bool:
    """A model folder whose config.json is a joint image-text model with its weights beside it."""
    folder = Path(folder)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    weights = any((folder / name).is_file() for name in ("model.safetensors", "pytorch_model.bin",
                                                          "model.safetensors.index.json"))
    return isinstance(config, dict) and str(config.get("model_type", "")) in CLIP_MODEL_TYPES and weights


def find_clip_models(cache: Path | None = None) -> list[Path]:
    """Snapshots of CLIP-style models in the local Hugging Face cache, by repository name."""
    root = Path(cache) if cache is not None else hf_cache_dir()
    found = []
    for repo in sorted(root.glob("models--*")) if root.is_dir() else []:
        for snap in sorted((repo / "snapshots").glob("*")):
            if is_clip_folder(snap):
                found.append(snap)
                break
    return found


def clip_model_folder(model_folder: str | os.PathLike | None = None) -> Path:
    """The user's folder when given (checked), else the first CLIP-style model in the cache."""
    if model_folder:
        folder = Path(model_folder).expanduser()
        if not is_clip_folder(folder):
            raise NoClipModel(f"{folder} is not a CLIP-style model folder (config.json of a joint image-text "
                              f"model such as {', '.join(CLIP_MODEL_TYPES[:2])}, with its weights).")
        return folder
    found = find_clip_models()
    if not found:
        raise NoClipModel(NO_MODEL.format(cache=hf_cache_dir()))
    return found[0]


def _features(out) -> torch.Tensor:
    """transformers 5 may return a model output instead of the bare tensor."""
    if isinstance(out, torch.Tensor):
        return out
    pooled = getattr(out, "pooler_output", None)
    return pooled if pooled is not None else out[0]


class ClipZeroShot:
    kind = "clip"

    def __init__(self, model_folder: str | os.PathLike | None = None):
        from tlstudio.core.heavy_imports import transformers_api
        from tlstudio.core.zoo.text_encoder import unreadable_model

        folder = clip_model_folder(model_folder)
        try:
            hf = transformers_api()
            hf.hf_logging.disable_progress_bar()
            self.model = hf.AutoModel.from_pretrained(folder, local_files_only=True, trust_remote_code=False).eval()
            self.processor = hf.transformers.AutoProcessor.from_pretrained(folder, local_files_only=True,
                                                                             trust_remote_code=False)
        except Exception as exc:
            raise unreadable_model(folder.name, exc) from exc
        in_cache = folder.parent.name == "snapshots"
        label = folder.parent.parent.name.removeprefix("models--").replace("--", "/") if in_cache else folder.name
        self.name = f"CLIP-style model {label}"

    def prompts(self, classes: Sequence[str], descriptions: dict[str, str]) -> list[str]:
        return [PROMPT.format(class_prompt(c, descriptions.get(c))) for c in classes]

    @torch.inference_mode()
    def embed_prompts(self, prompts: Sequence[str]) -> torch.Tensor:
        batch = self.processor(text=list(prompts), return_tensors="pt", padding=True, truncation=True)
        return _features(self.model.get_text_features(**batch)).float()

    @torch.inference_mode()
    def embed_samples(self, samples: Sequence[Sample], job: JobState | None = None,
                      batch_size: int = 16) -> torch.Tensor:
        from tlstudio.core.data.images import load_image_rgb

        out = []
        for start in range(0, len(samples), batch_size):
            images = [load_image_rgb(s.path) for s in samples[start:start + batch_size]]
            batch = self.processor(images=images, return_tensors="pt")
            out.append(_features(self.model.get_image_features(**batch)).float())
            check(job)
            set_progress(job, min(start + batch_size, len(samples)), len(samples))
        return torch.cat(out) if out else torch.empty(0, 1)
