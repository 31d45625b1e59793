"""PIL image -> QImage, for widgets and for the worker jobs that render pictures off the GUI thread."""
from __future__ import annotations

from PySide6.QtGui import QImage


def pil_to_qimage(image) -> QImage:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    data = rgb.tobytes()
    # copy(): the QImage must own its pixels once `data` is gone.
    return QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888).copy()
