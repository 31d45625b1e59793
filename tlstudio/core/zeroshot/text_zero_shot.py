"""Zero-shot for texts: class names (and descriptions) and texts embedded by the bundled sentence encoder.

all-MiniLM-L6-v2 was trained so that texts about the same thing have close mean-pooled
embeddings (its ``1_Pooling/config.json`` says mean pooling; ``zoo/text_encoder.py``
applies it), so a class's name, or "name: description", lands near the texts of that
class. The encoder is always the bundled one, whichever model the project trains: a
GPT-2 or XLNet state pooled from one token is not such an embedding.
"""
from __future__ import annotations

from typing import Sequence

import torch

from tlstudio.core.data.index import Sample
from tlstudio.core.zeroshot.prototypes import class_prompt
from tlstudio.core.zoo.text_cards import DEFAULT_TEXT_MODEL
from tlstudio.core.progress import JobState

MAX_LENGTH = 128


class SentenceEncoderZeroShot:
    kind = "sentence-encoder"

    def __init__(self, model_folder: str | None = None, text_model=None):
        """``model_folder``: another sentence-transformers folder (default: the bundled encoder)."""
        from tlstudio.core.zoo.text_encoder import load_text_model

        self.model = text_model if text_model is not None else \
            load_text_model(model_folder or DEFAULT_TEXT_MODEL, allow_download=False)
        self.name = f"sentence encoder {self.model.name}"

    def prompts(self, classes: Sequence[str], descriptions: dict[str, str]) -> list[str]:
        return [class_prompt(c, descriptions.get(c)) for c in classes]

    def embed_prompts(self, prompts: Sequence[str]) -> torch.Tensor:
        return self.model.encode(list(prompts), max_length=MAX_LENGTH)

    def embed_samples(self, samples: Sequence[Sample], job: JobState | None = None) -> torch.Tensor:
        return self.model.encode([s.text or "" for s in samples], max_length=MAX_LENGTH, job=job)
