"""Per-token attributions for text models: gradient x input on the input embeddings.

For each token, the gradient of the explained class score with respect to the
token's input embedding, multiplied by that embedding and summed over the
embedding dimensions: a first-order estimate of how much the token's presence
raised (positive) or lowered (negative) the score. One forward and one backward
pass, through the run's own tokenizer (the same truncation as prediction), so it
works for every transformers family the zoo builds (the bundled MiniLM, BERT,
GPT-2, XLNet ...). Tokens are mapped back to the text with the fast tokenizer's
character offsets and summed per word, so "unbelievable" split into word pieces
shows as one highlighted word.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from tlstudio.core.data.text_modality import tokenizer_for
from tlstudio.core.explain.gradcam import ExplainError
from tlstudio.core.explain.hooks import Tap, eval_with_grad
from tlstudio.core.explain.images import class_index_for

METHOD = "gradient x input"


@dataclass(frozen=True)
class Piece:
    """A token or a word with its attribution; ``start``/``end`` index the text (-1: a special token)."""

    token: str
    score: float
    start: int = -1
    end: int = -1

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TextExplanation:
    text: str
    tokens: list[Piece]           # every token the model saw, special tokens included
    words: list[Piece]            # the text's words (tokens of one word summed), in order
    class_index: int
    class_name: str
    probability: float
    predicted_index: int
    predicted_name: str
    predicted_probability: float
    truncated: bool = False       # the text was longer than the model's max length
    method: str = field(default=METHOD)


def input_embeddings(model: torch.nn.Module) -> torch.nn.Module:
    """The token embedding table of a text TransferModel (``base`` is a ``TextEncoder``)."""
    hf = getattr(model.base, "base", None)
    getter = getattr(hf, "get_input_embeddings", None)
    module = getter() if callable(getter) else None
    if not isinstance(module, torch.nn.Module):
        raise ExplainError(f"{getattr(model, 'model_name', 'This model')} exposes no input embeddings to explain.")
    return module


def _encode(tokenizer, text: str, max_length: int) -> tuple[list[int], list | None, list | None, bool]:
    """(ids, character offsets, word ids, truncated) as prediction tokenises the text."""
    fast = bool(getattr(tokenizer, "is_fast", False))
    enc = tokenizer(text, truncation=True, max_length=int(max_length), padding=False, add_special_tokens=True,
                    return_offsets_mapping=fast, verbose=False)
    ids = [int(i) for i in enc["input_ids"]]
    full = tokenizer(text, truncation=False, add_special_tokens=True, verbose=False)["input_ids"]
    offsets = [tuple(int(v) for v in o) for o in enc["offset_mapping"]] if fast else None
    words = enc.word_ids() if fast else None
    return ids, offsets, words, len(full) > len(ids)


def _pieces(tokenizer, text: str, ids: list[int], offsets, word_ids, scores: list[float]
            ) -> tuple[list[Piece], list[Piece]]:
    special = set(int(i) for i in getattr(tokenizer, "all_special_ids", []))
    names = tokenizer.convert_ids_to_tokens(ids)
    tokens: list[Piece] = []
    words: dict[int, list] = {}
    for k, (token_id, name, score) in enumerate(zip(ids, names, scores)):
        start, end = offsets[k] if offsets is not None else (-1, -1)
        is_special = token_id in special or (offsets is not None and start == end)
        if is_special:
            tokens.append(Piece(str(name), score))
            continue
        shown = text[start:end] if offsets is not None else str(name)
        tokens.append(Piece(shown, score, start, end))
        word = word_ids[k] if word_ids is not None and word_ids[k] is not None else -(k + 1)
        entry = words.setdefault(word, [start, end, 0.0, shown])
        entry[0], entry[1] = min(entry[0], start), max(entry[1], end)
        entry[2] += score
    out_words = [Piece(text[s:e] if offsets is not None else shown, total, s, e)
                 for s, e, total, shown in words.values()]
    return tokens, out_words


def explain_text(loaded, text: str, class_name: int | str | None = None) -> TextExplanation:
    """Which tokens of ``text`` pushed ``loaded`` (a text run's LoadedModel) towards a class:
    the predicted one by default, or ``class_name`` (a name or index)."""
    if loaded.task != "text":
        raise ExplainError("This model classifies images; explain an image instead.")
    text = str(text)
    if not text.strip():
        raise ExplainError("The text is empty.")
    wanted = class_index_for(loaded.classes, class_name)
    tokenizer = tokenizer_for(loaded.preprocessing)
    ids, offsets, word_ids, truncated = _encode(tokenizer, text, loaded.preprocessing.max_length)
    model = loaded.model
    device = loaded.device
    batch = {"input_ids": torch.tensor([ids], dtype=torch.long, device=device),
             "attention_mask": torch.ones((1, len(ids)), dtype=torch.long, device=device)}
    with eval_with_grad(model):
        with Tap(input_embeddings(model), "output") as tap:
            logits = model(batch)
        probs = torch.softmax(logits.detach().float(), dim=1)[0].cpu()
        index = int(probs.argmax()) if wanted is None else wanted
        grads = tap.gradient(logits[0, index])
        scores = (grads * tap.tensor.detach()).sum(dim=-1)[0].float().cpu().tolist()
    tokens, words = _pieces(tokenizer, text, ids, offsets, word_ids, scores)
    predicted = int(probs.argmax())
    return TextExplanation(text=text, tokens=tokens, words=words, class_index=index,
                           class_name=loaded.classes[index], probability=float(probs[index]),
                           predicted_index=predicted, predicted_name=loaded.classes[predicted],
                           predicted_probability=float(probs[predicted]), truncated=truncated)
