"""Highlighted text: words coloured by their attribution, as HTML or a PNG (Pillow, no Qt).

Warm (orange-red) words raised the explained class's score, cool (blue) words
lowered it; the strength is the attribution relative to the largest one in the
text. Colours are solid (blended with white) so Qt's rich-text subset shows
them, with dark text on top whatever the theme.
"""
from __future__ import annotations

import html
import os
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

from tlstudio.core import atomic
from tlstudio.core.explain.overlay import png_bytes
from tlstudio.core.explain.text_attrib import Piece, TextExplanation

_WARM = (235, 90, 20)
_COOL = (40, 110, 230)


def score_colour(score: float, peak: float) -> tuple[int, int, int]:
    """White for 0, the warm (positive) or cool (negative) colour at full strength for |score| = peak."""
    strength = 0.0 if peak <= 0 else min(abs(score) / peak, 1.0)
    tint = _WARM if score >= 0 else _COOL
    return tuple(int(round(255 + (c - 255) * strength)) for c in tint)


def _peak(pieces: Sequence[Piece]) -> float:
    return max((abs(p.score) for p in pieces), default=0.0)


def explanation_html(explanation: TextExplanation) -> str:
    """The text with each word on a background coloured by its score (a rich-text fragment)."""
    text, words = explanation.text, [w for w in explanation.words if w.start >= 0]
    peak = _peak(words)
    parts, at = [], 0
    for word in sorted(words, key=lambda w: w.start):
        if word.start < at:
            continue
        parts.append(html.escape(text[at:word.start]))
        r, g, b = score_colour(word.score, peak)
        parts.append(f'<span style="background-color:#{r:02x}{g:02x}{b:02x}; color:#111111" '
                     f'title="{word.score:+.3g}">{html.escape(text[word.start:word.end])}</span>')
        at = word.end
    parts.append(html.escape(text[at:]))
    return "".join(parts).replace("\n", "<br>")


def explanation_page(explanation: TextExplanation) -> str:
    """A small standalone HTML page: the class explained, then the highlighted text."""
    title = (f"{html.escape(explanation.class_name)} ({explanation.probability:.1%}) - "
             f"{html.escape(explanation.method)}")
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>\n'
            f'<body style="font-family:sans-serif; max-width:50em">\n<p><b>{title}</b></p>\n'
            f'<p style="line-height:1.8">{explanation_html(explanation)}</p>\n</body></html>\n')


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):       # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def explanation_image(explanation: TextExplanation, width: int = 800, size: int = 20) -> Image.Image:
    """The highlighted words drawn on white, wrapped to ``width`` pixels, with a title line."""
    font = _font(size)
    words = [w for w in explanation.words if w.start >= 0]
    peak = _peak(words)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h, pad, space = int(size * 1.6), 12, probe.textlength(" ", font=font)
    placed, x, y = [], pad, pad + line_h
    for word in words:
        w = probe.textlength(word.token, font=font)
        if x + w > width - pad and x > pad:
            x, y = pad, y + line_h
        placed.append((x, y, w, word))
        x += w + space
    image = Image.new("RGB", (width, y + line_h + pad), "white")
    draw = ImageDraw.Draw(image)
    draw.text((pad, pad), f"{explanation.class_name} ({explanation.probability:.1%})", fill=(0, 0, 0), font=font)
    for x, y, w, word in placed:
        draw.rectangle((x - 2, y - 2, x + w + 2, y + line_h - 6), fill=score_colour(word.score, peak))
        draw.text((x, y), word.token, fill=(17, 17, 17), font=font)
    return image


def save_text_explanation(explanation: TextExplanation, path: str | os.PathLike) -> None:
    """Write the highlighted text atomically: HTML for .html/.htm, otherwise a PNG."""
    if str(path).lower().endswith((".html", ".htm")):
        atomic.write_text(path, explanation_page(explanation))
    else:
        atomic.write_bytes(path, png_bytes(explanation_image(explanation)))

