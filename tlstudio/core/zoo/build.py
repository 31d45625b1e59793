"""Moved to ``tlstudio.core.model.build`` (model assembly belongs to the model layer).

Kept only until ``core/train/trainer.py`` and ``core/runs/folder.py`` import from there (one line
each); then this file goes. tests/test_module_contracts.py allows this one upward import for that.
"""
from tlstudio.core.model.build import card_for, create_transfer_model, cut_at_features  # noqa: F401
