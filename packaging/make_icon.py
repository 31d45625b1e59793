"""Draw the fallback app icon (packaging/icons/tlstudio.png) with Pillow.

The packaged app uses the GUI's resources/icons/app.png when present; this
icon exists so the bundle, the .desktop entry and the installers always have
one. Run: .venv/bin/python packaging/make_icon.py
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent / "icons"
SIZE = 512


def draw(size: int = SIZE) -> Image.Image:
    # Drawn at 4x and scaled down: Pillow has no anti-aliased shapes.
    s = size * 4
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, s - 1, s - 1), radius=s // 6, fill=(32, 58, 96, 255))
    # A small network: a frozen base (grey, three layers) and a new head (orange).
    layers = [(0.2, 4), (0.4, 4), (0.6, 3), (0.82, 2)]
    nodes = []
    for x, n in layers:
        ys = [0.5 + (i - (n - 1) / 2) * 0.18 for i in range(n)]
        nodes.append([(x * s, y * s) for y in ys])
    for li in range(len(nodes) - 1):
        head = li == len(nodes) - 2
        colour = (255, 170, 60, 255) if head else (150, 170, 200, 255)
        for a in nodes[li]:
            for b in nodes[li + 1]:
                d.line((a, b), fill=colour, width=s // 90)
    r = s // 22
    for li, layer in enumerate(nodes):
        fill = (255, 150, 40, 255) if li == len(nodes) - 1 else (225, 232, 242, 255)
        for x, y in layer:
            d.ellipse((x - r, y - r, x + r, y + r), fill=fill, outline=(20, 30, 50, 255), width=s // 120)
    return img.resize((size, size), Image.LANCZOS)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    img = draw()
    img.save(OUT / "tlstudio.png")


if __name__ == "__main__":
    main()
