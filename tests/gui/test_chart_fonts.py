"""Class names in any script are drawn with real glyphs in the confusion matrix (a CJK font is picked
when one is installed; without one the test is skipped)."""
import warnings

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tlstudio.gui.widgets.chart_fonts import cjk_families, label_families
from tlstudio.gui.widgets.charts import build_confusion


def _missing_glyph_warnings(classes) -> list[str]:
    fig = Figure(figsize=(4, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_confusion(ax, np.array([[3, 1], [0, 4]]), classes)
        fig.canvas.draw()
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_latin_labels_keep_the_default_font():
    assert label_families(["Küche", "adiós", "Wetter"]) is None
    assert not _missing_glyph_warnings(["Küche", "adiós"])


def test_japanese_labels_are_drawn_with_a_cjk_font():
    if not cjk_families():
        pytest.skip("no CJK font installed here (e.g. Debian's fonts-ipafont-gothic or fonts-noto-cjk)")
    assert label_families(["天気", "食べ物"])[0] == "DejaVu Sans"
    assert _missing_glyph_warnings(["天気", "食べ物"]) == []
