"""Fonts for chart labels in any script.

matplotlib's default font (DejaVu Sans) covers Latin, Greek and Cyrillic but no
Chinese, Japanese or Korean: class names in those scripts would be drawn as
empty boxes. ``label_families(texts)`` gives a family list with an installed
CJK font after DejaVu Sans (matplotlib falls back glyph by glyph), or None when
the default covers the texts. Installed fonts that matplotlib's font cache does
not know yet (installed after it was built) are added once. Called from the
render worker, never the GUI thread.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterable

# Family names (prefixes) of fonts with CJK glyphs on Linux, Windows and macOS.
CJK_FAMILIES = ("Noto Sans CJK", "Noto Sans JP", "Noto Sans SC", "Noto Sans TC", "Noto Sans KR", "Source Han Sans",
                "IPAGothic", "IPAPGothic", "IPAexGothic", "TakaoGothic", "VL Gothic", "Droid Sans Fallback",
                "WenQuanYi", "Yu Gothic", "Meiryo", "MS Gothic", "Microsoft YaHei", "SimHei", "Malgun Gothic",
                "Hiragino", "PingFang", "Apple SD Gothic", "Arial Unicode")
# File-name parts of such fonts, to find the ones the font cache has not seen.
_FILE_HINTS = ("cjk", "ipag", "ipaexg", "takao", "droidsansfallback", "wqy", "msgothic", "yugoth", "meiryo", "msyh",
               "simhei", "malgun", "hiragino", "pingfang", "notosansjp", "notosanssc", "sourcehan", "japanese-gothic")
_lock = threading.Lock()
_found: list[str] | None = None


def _needs_fallback(texts: Iterable[str]) -> bool:
    return any(ord(ch) >= 0x2E80 for text in texts for ch in str(text))


def cjk_families() -> list[str]:
    """The installed CJK font families matplotlib can use (cached)."""
    global _found
    with _lock:
        if _found is None:
            from matplotlib import font_manager

            def known() -> list[str]:
                names = {f.name for f in font_manager.fontManager.ttflist}
                return sorted(n for n in names if n.startswith(CJK_FAMILIES))

            _found = known()
            if not _found:
                for path in font_manager.findSystemFonts():
                    if any(hint in Path(path).name.lower() for hint in _FILE_HINTS):
                        try:
                            font_manager.fontManager.addfont(path)
                        except (OSError, RuntimeError, ValueError):
                            continue
                _found = known()
        return list(_found)


def label_families(texts: Iterable[str]) -> list[str] | None:
    """Font families for labels ``texts``: None when the default font draws them all."""
    if not _needs_fallback(texts):
        return None
    return ["DejaVu Sans", *cjk_families()]
