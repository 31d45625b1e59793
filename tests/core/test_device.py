"""core.device: the one list of device names, and what each resolves to."""
import argparse

import pytest
import torch

from tlstudio.cli.commands import build_parser
from tlstudio.core.device import DEVICE_CHOICES, available_devices, placeholder_devices, resolve_device
from tlstudio.core.errors import TrainingError


def test_names_resolve_or_fail_with_a_message():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else
                                           "mps" if torch.backends.mps.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="no CUDA GPU"):
            resolve_device("cuda:0")
    with pytest.raises(TrainingError, match="auto, cpu, cuda, mps"):
        resolve_device("tpu")


def test_the_picker_lists_this_computer_and_starts_with_the_placeholders():
    devices = available_devices()
    values = [value for value, _ in devices]
    assert values[0] == "auto" and values[-1] == "cpu"
    assert sum(v.startswith("cuda:") for v in values) == torch.cuda.device_count()
    assert [v for v, _ in placeholder_devices()] == ["auto", "cpu"]
    for value in values:
        resolve_device(value)          # every listed device really resolves


def test_every_cli_device_option_offers_the_same_choices():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    offered = {name: action.choices for name, sub in subparsers.choices.items()
               for action in sub._actions if "--device" in action.option_strings}
    assert {"train", "evaluate", "predict", "explain", "audit", "curves"} <= set(offered)
    assert all(tuple(choices) == DEVICE_CHOICES for choices in offered.values())
