"""Where a model runs: the device names a user may choose, and what they resolve to.

``DEVICE_CHOICES`` are the names the CLI's ``--device`` accepts and a Project's
``training.device`` holds ("cuda:N" names one GPU as well); ``resolve_device``
turns one into a ``torch.device`` or raises ``TrainingError`` with user-facing
text; ``available_devices`` lists what this computer has, for a picker.
torch is imported only when a device is resolved or listed.
"""
from __future__ import annotations

from tlstudio.core.errors import TrainingError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
AUTO_LABEL = "Automatic (best available)"


def _mps_available(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str = "auto"):
    """"auto": CUDA, then Apple MPS, then CPU; an explicit device must exist."""
    import torch

    name = (name or "auto").strip().lower()
    mps_ok = _mps_available(torch)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_ok else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError("CUDA was requested but no CUDA GPU is available; choose 'auto' or 'cpu'.")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise TrainingError(f"There is no GPU {dev.index}; this computer has {torch.cuda.device_count()}.")
        return dev
    if name == "mps":
        if not mps_ok:
            raise TrainingError("Apple MPS was requested but is not available; choose 'auto' or 'cpu'.")
        return torch.device("mps")
    raise TrainingError(f"Unknown device {name!r}; use {', '.join(DEVICE_CHOICES)}.")


def placeholder_devices() -> list[tuple[str, str]]:
    """The devices known without asking torch; ``available_devices`` (in a worker) replaces them."""
    return [("auto", AUTO_LABEL), ("cpu", "CPU")]


def available_devices() -> list[tuple[str, str]]:
    """(value, label) pairs: automatic, each CUDA device by name, MPS when present, CPU.

    Imports torch and initialises CUDA: a GUI calls it in a worker, never on its GUI thread.
    """
    import torch

    devices = [("auto", AUTO_LABEL)]
    for i in range(torch.cuda.device_count()):
        devices.append((f"cuda:{i}", f"CUDA {i}: {torch.cuda.get_device_name(i)}"))
    if _mps_available(torch):
        devices.append(("mps", "Apple GPU (MPS)"))
    devices.append(("cpu", "CPU"))
    return devices
