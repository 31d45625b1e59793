"""Finding, reading, downloading and loading pretrained weights.

Sources, in the order ``weights="auto"`` tries them: weights bundled with the
app, then the local caches (torch hub ``checkpoints/`` for torchvision and timm
URL weights, the Hugging Face hub cache for timm). A file the user imports is
loaded by path; a download happens only when asked for.

Loading checks first and loads second: missing keys, unexpected keys and shape
mismatches are reported together and the model is left untouched. Files are
read with ``weights_only=True`` / safetensors, so no pickled code ever runs.
"""
from __future__ import annotations

import hashlib
import os
import re
import socket
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from tlstudio.core.atomic import atomic_path
from tlstudio.core.errors import ModelError, WeightsError
from tlstudio.core.paths import hf_cache_dir
from tlstudio.core.zoo.bundled import BUNDLED, bundled_weights
from tlstudio.core.zoo.cards import ModelCard, as_card
from tlstudio.core.zoo.families import adapter_for
from tlstudio.core.zoo.sources import AUTO, DOWNLOAD, NONE, WeightsSource
from tlstudio.core.progress import JobState, check, set_progress

CONNECT_TIMEOUT_S = 3.0
HF_HOST = "huggingface.co"
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
_PREFIXES = ("module.", "_orig_mod.")  # DataParallel / torch.compile wrappers


# -- reading files -------------------------------------------------------------

REFUSED_PICKLE = ("refused, because loading it could run code (it is a Python pickle holding more than "
                  "tensors); accepted: .safetensors, or a .pth/.pt file holding only tensors (a state dict)")


def read_failure(exc: Exception) -> str:
    """A readable one-line reason for a weights file torch, safetensors or transformers could not read."""
    text = str(exc).strip()
    # A pickle naming a Python object, or a plain pickle (protocol 4's FRAME, operand 149, which
    # torch.save never writes): torch's safe reader refuses it.
    if "GLOBAL" in text or "Unsupported global" in text or "Unsupported operand 149" in text:
        return REFUSED_PICKLE
    if isinstance(exc, (IndexError, EOFError, UnicodeDecodeError)) or "weights_only" in text \
            or "zip archive" in text or "header" in text.lower():
        return "it is not a PyTorch (.pth/.pt) or safetensors weights file, or it is damaged"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def load_weights_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from a .safetensors / .pth / .pt file (never unpickles code)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Weights file {path} does not exist.")
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            data = load_file(str(path), device="cpu")
        else:
            data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, or a pickle with code in it
        raise WeightsError(f"Could not read weights file {path.name}: {read_failure(exc)}") from exc
    for _ in range(2):  # a training checkpoint may wrap the weights once or twice
        if isinstance(data, dict):
            inner = next((data[k] for k in _WRAPPER_KEYS if isinstance(data.get(k), dict)), None)
            if inner is not None:
                data = inner
    if not isinstance(data, dict) or not data or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items()):
        raise WeightsError(f"Weights file {path.name} does not hold a state dict of named tensors.")
    return {_strip_prefixes(k): v for k, v in data.items()}


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


# -- checking and loading ---------------------------------------------------------

def _short_list(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def state_dict_problems(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Missing keys, unexpected keys and shape mismatches of ``state`` against ``model``."""
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    mismatched = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
                  for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    return {"missing": missing, "unexpected": unexpected, "mismatched": mismatched}


def load_state_dict_checked(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load strictly, or raise WeightsError naming every problem and leave the model as it was."""
    problems = state_dict_problems(model, state)
    if any(problems.values()):
        parts = []
        if problems["missing"]:
            parts.append(f"{len(problems['missing'])} missing keys ({_short_list(problems['missing'])})")
        if problems["unexpected"]:
            parts.append(f"{len(problems['unexpected'])} unexpected keys ({_short_list(problems['unexpected'])})")
        if problems["mismatched"]:
            parts.append(f"{len(problems['mismatched'])} shape mismatches ({_short_list(problems['mismatched'])})")
        raise WeightsError(f"The weights in {source} do not fit this model: {'; '.join(parts)}.")
    state = dict(state)
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)  # older checkpoints predate this buffer
    model.load_state_dict(state, strict=True)


# -- where weights are --------------------------------------------------------------

def _torchvision_weights(card: ModelCard):
    from torchvision.models import get_model_weights

    return get_model_weights(card.arch).DEFAULT


def _timm_cfg(card: ModelCard):
    import timm.models

    return timm.models.get_pretrained_cfg(card.arch)


def weights_url(card: ModelCard | str) -> str | None:
    """The direct download URL of the card's weights, where one exists."""
    card = as_card(card)
    if card.library == "torchvision":
        weights = _torchvision_weights(card)
        return weights.url if weights is not None else None
    cfg = _timm_cfg(card)
    return cfg.url if cfg is not None and cfg.url else None


def _hf_file(card: ModelCard) -> tuple[str, str] | None:
    """(repo id, file name) of a timm model's Hugging Face weights."""
    if card.library != "timm":
        return None
    cfg = _timm_cfg(card)
    if cfg is None or not cfg.hf_hub_id:
        return None
    return cfg.hf_hub_id.split("@", 1)[0], cfg.hf_hub_filename or "model.safetensors"


def _hf_cached(repo: str, filename: str) -> Path | None:
    folder = hf_cache_dir() / ("models--" + repo.replace("/", "--"))
    ref = folder / "refs" / "main"
    names = [filename] + (["pytorch_model.bin"] if filename == "model.safetensors" else [])
    snapshots = []
    if ref.is_file():
        snapshots.append(folder / "snapshots" / ref.read_text(encoding="utf-8").strip())
    snapshots += sorted((folder / "snapshots").glob("*")) if (folder / "snapshots").is_dir() else []
    for snap in snapshots:
        for name in names:
            if (snap / name).is_file():
                return snap / name
    return None


def torch_hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_weights_path(card: ModelCard | str) -> Path | None:
    """A weights file for this card already on this computer (not the bundled one)."""
    card = as_card(card)
    hf = _hf_file(card)
    if hf is not None:
        found = _hf_cached(*hf)
        if found is not None:
            return found
    url = weights_url(card)
    if url:
        path = torch_hub_checkpoints() / os.path.basename(urlparse(url).path)
        if path.is_file():
            return path
    return None


def weight_source(card: ModelCard | str) -> str:
    """Where weights="auto" would get weights: "bundled", "cached", "download" or "unavailable"."""
    card = as_card(card)
    if card.library == "timm" and bundled_weights(card.arch) is not None:
        return "bundled"
    if cached_weights_path(card) is not None:
        return "cached"
    if weights_url(card) or _hf_file(card):
        return "download"
    return "unavailable"


# -- downloading ------------------------------------------------------------------

def check_connection(host: str, port: int = 443, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise OSError quickly when ``host`` cannot be reached."""
    with socket.create_connection((host, port), timeout=timeout):
        pass


def download_weights(card: ModelCard | str, job: JobState | None = None) -> Path:
    """Download the card's weights into the standard cache; ``job`` is told the bytes done of the total
    (and checked between chunks of a plain download: a cancel leaves no partial file)."""
    card = as_card(card)
    hf, url = _hf_file(card), weights_url(card)
    if hf is None and not url:
        raise WeightsError(f"No download is known for {card.name}. Import a weights file instead.")
    host = HF_HOST if hf is not None else (urlparse(url).hostname or "")
    try:
        check_connection(host)
    except OSError as exc:
        raise WeightsError(f"Could not download weights for {card.name}: no network connection "
                           f"({host}: {exc or type(exc).__name__}). Import a weights file instead.") from exc
    try:
        if hf is not None:
            return _download_hf(hf[0], hf[1], job)
        return _download_url(url, torch_hub_checkpoints() / os.path.basename(urlparse(url).path), job)
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"Could not download weights for {card.name}: {exc}. "
                           "Import a weights file instead.") from exc


def _download_url(url: str, dest: Path, job: JobState | None) -> Path:
    """Stream ``url`` to ``dest`` atomically; torch hub file names carry a sha256 prefix to check."""
    match = re.search(r"-([a-f0-9]{6,})\.", dest.name)
    sha = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=30) as response, atomic_path(dest) as tmp:
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        with open(tmp, "wb") as fh:
            while chunk := response.read(1 << 20):
                fh.write(chunk)
                sha.update(chunk)
                done += len(chunk)
                set_progress(job, done, total)
                check(job)
        if match and not sha.hexdigest().startswith(match[1]):
            raise WeightsError(f"The downloaded file {dest.name} is corrupt (checksum mismatch); try again.")
    return dest


def _download_hf(repo: str, filename: str, job: JobState | None) -> Path:
    from huggingface_hub import hf_hub_download
    from tqdm.auto import tqdm

    class _Progress(tqdm):  # forwards the hub's byte counts to the job
        def update(self, n=1):
            result = super().update(n)
            if self.total:
                set_progress(job, int(self.n), int(self.total))
            return result

    return Path(hf_hub_download(repo, filename, cache_dir=hf_cache_dir(), tqdm_class=_Progress))


# -- building models ---------------------------------------------------------------

def build_model(card: ModelCard | str) -> nn.Module:
    """The full original network (with its 1000-class classifier), randomly initialised."""
    card = as_card(card)
    try:
        if card.library == "torchvision":
            from torchvision.models import get_model

            adapter = adapter_for(card)
            kwargs = dict(adapter.builder_kwargs) if adapter is not None else {}
            return get_model(card.arch, weights=None, **kwargs)
        import timm

        return timm.create_model(card.arch, pretrained=False)
    except Exception as exc:
        raise ModelError(f"Could not build {card.name}: {exc}.") from exc


def _timm_adapted(model: nn.Module, state: dict) -> dict:
    """timm's own converter for checkpoints in an original layout, when the model has one."""
    import importlib

    module = importlib.import_module(type(model).__module__)
    convert = getattr(module, "checkpoint_filter_fn", None)
    if convert is None:
        return state
    try:
        return convert(state, model)
    except Exception:
        return state


def load_bundled_state_dict(arch: str, model: nn.Module) -> dict[str, torch.Tensor]:
    """The bundled weights for ``arch``, renamed to ``model``'s keys."""
    entry = BUNDLED.get(arch)
    if entry is None:
        raise WeightsError(f"No weights are bundled for {arch}.")
    return entry.to_timm(load_weights_file(entry.locate()), model)


def create_pretrained(card: ModelCard | str,
                      weights: WeightsSource | str | os.PathLike | None = "auto") -> nn.Module:
    """The full original network with weights loaded, in eval mode.

    weights: a WeightsSource, or its JSON string: "auto" (bundled > cached),
    "none"/None (random init), "download", or a file path.
    """
    card = as_card(card)
    model = build_model(card)
    source = WeightsSource.parse(weights)
    if source.kind == NONE:
        return model.eval()
    if source.kind == AUTO:
        if card.library == "timm" and bundled_weights(card.arch) is not None:
            state, origin = load_bundled_state_dict(card.arch, model), "the bundled weights"
        else:
            path = cached_weights_path(card)
            if path is None:
                raise WeightsError(f"No weights for {card.name} are on this computer; import a weights "
                                   "file (.pth or .safetensors) or download them.")
            state, origin = load_weights_file(path), path.name
    elif source.kind == DOWNLOAD:
        path = download_weights(card)
        state, origin = load_weights_file(path), path.name
    else:
        state, origin = load_weights_file(source.path), Path(source.path).name
    if card.library == "timm" and any(state_dict_problems(model, state).values()):
        adapted = _timm_adapted(model, state)
        if not any(state_dict_problems(model, adapted).values()):
            state = adapted
    load_state_dict_checked(model, state, origin)
    return model.eval()
