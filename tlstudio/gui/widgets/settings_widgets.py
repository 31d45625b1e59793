"""Small helpers for settings forms: spin boxes (one in scientific notation), durations."""
from __future__ import annotations

import math

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QAbstractSpinBox, QDoubleSpinBox, QSpinBox


def int_spin(low: int, high: int, *, special: str = "", suffix: str = "") -> QSpinBox:
    """An integer spin box; ``special`` is shown instead of the minimum (e.g. "off" for 0)."""
    box = QSpinBox()
    box.setRange(low, high)
    if special:
        box.setSpecialValueText(special)
    if suffix:
        box.setSuffix(suffix)
    box.setKeyboardTracking(False)
    return box


def double_spin(low: float, high: float, step: float, decimals: int) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setKeyboardTracking(False)
    return box


class SciSpinBox(QDoubleSpinBox):
    """Learning rates and decays: typed as 1e-3 or 0.001, stepped by a factor of ~2 (1, 2, 5, 10 ...)."""

    def __init__(self, low: float, high: float, parent=None):
        super().__init__(parent)
        self.setDecimals(12)              # the value itself is never rounded to a few decimals
        self.setRange(low, high)
        self.setKeyboardTracking(False)
        self.setStepType(QAbstractSpinBox.StepType.DefaultStepType)

    def textFromValue(self, value: float) -> str:
        return f"{value:.4g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        stripped = text.strip()
        if stripped == "" or stripped in ("-", ".", "e", "E") or stripped[-1] in "eE-+":
            return QValidator.State.Intermediate, text, pos
        try:
            value = float(stripped)
        except ValueError:
            return QValidator.State.Invalid, text, pos
        if self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos

    def stepBy(self, steps: int) -> None:
        value = self.value()
        if value <= 0:
            self.setValue(max(self.minimum(), 1e-6) if steps > 0 else 0.0)
            return
        # Walk the 1-2-5 ladder so each click is a sensible order-of-magnitude step.
        ladder = (1.0, 2.0, 5.0)
        exponent = math.floor(math.log10(value))
        mantissa = value / 10 ** exponent
        index = min(range(3), key=lambda i: abs(ladder[i] - mantissa))
        position = exponent * 3 + index + steps
        exponent, index = divmod(position, 3)
        self.setValue(min(self.maximum(), max(self.minimum(), ladder[index] * 10 ** exponent)))


def format_eta(seconds: float) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
