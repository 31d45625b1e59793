"""``tlstudio-cli explain``: where a trained model looks (images) or which words decide (texts).

Images: ``explain RUN IMAGE --out FILE.png [--class NAME]`` writes the heat map blended over the
image as the model saw it, and nothing else; an existing file is kept unless ``--force``.
Texts: ``explain RUN --text "..." [--json] [--out FILE.html|FILE.png]`` prints each token with its
attribution, or writes the highlighted text. Bad input: one line on stderr, exit status 2
(``commands.main`` turns every ``TLStudioError`` into that).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from tlstudio.core.device import DEVICE_CHOICES
from tlstudio.core.errors import DatasetError


def add_explain_parser(sub) -> None:
    p = sub.add_parser("explain", help="show where a run's model looks in an image (Grad-CAM) or which words "
                                       "decide a text's class")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("image", metavar="IMAGE", nargs="?", help="image runs: the image to explain")
    p.add_argument("--text", metavar="TEXT", help="text runs: the text to explain")
    p.add_argument("--out", metavar="FILE", help="the overlay PNG (images, required); for a text, an .html or "
                                                 ".png with the words highlighted")
    p.add_argument("--class", dest="class_name", metavar="NAME",
                   help="explain this class instead of the predicted one")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="cpu")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_explain)


def _checked_out(out: str | None, suffixes: tuple[str, ...], force: bool) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    if path.suffix.lower() not in suffixes:
        raise DatasetError(f"--out must end in {' or '.join(suffixes)}; got '{out}'.")
    if path.is_dir():
        raise DatasetError(f"--out '{out}' is a folder; give a file name.")
    if path.exists() and not force:
        raise DatasetError(f"'{out}' already exists; choose another --out or add --force to replace it.")
    if not path.parent.is_dir():
        raise DatasetError(f"The folder for --out '{out}' does not exist.")
    return path


def _explain_image(args, loaded) -> int:
    from tlstudio.core import atomic
    from tlstudio.core.explain import explain_image, png_bytes

    if args.text is not None:
        raise DatasetError("This model classifies images; --text is for text models. Give an IMAGE.")
    if not args.image:
        raise DatasetError("No image to explain; give an IMAGE path.")
    if not args.out:
        raise DatasetError("Give --out FILE.png for the heat-map overlay.")
    out = _checked_out(args.out, (".png",), args.force)
    explanation = explain_image(loaded, args.image, class_name=args.class_name)
    atomic.write_bytes(out, png_bytes(explanation.overlay()))
    summary = {"image": str(args.image), "predicted": explanation.predicted_name,
               "probability": round(explanation.predicted_probability, 6), "explained": explanation.class_name,
               "explained_probability": round(explanation.probability, 6), "method": explanation.method,
               "layer": explanation.layer, "out": str(out)}
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"{args.image}: {explanation.predicted_name} {explanation.predicted_probability:.3f}")
    if explanation.class_index != explanation.predicted_index:
        print(f"explained class: {explanation.class_name} {explanation.probability:.3f}")
    print(f"{explanation.method} overlay written to {out}")
    return 0


def _explain_text(args, loaded) -> int:
    from tlstudio.core.explain import explain_text, save_text_explanation

    if args.image is not None:
        raise DatasetError("This model classifies texts; give the text with --text \"...\", not a file.")
    if args.text is None:
        raise DatasetError("No text to explain; give it with --text \"...\".")
    out = _checked_out(args.out, (".html", ".htm", ".png"), args.force)
    explanation = explain_text(loaded, args.text, class_name=args.class_name)
    if out is not None:
        save_text_explanation(explanation, out)
    tokens = [t for t in explanation.tokens if t.start >= 0]
    if args.json:
        json.dump([{"token": t.token, "score": round(t.score, 6), "start": t.start, "end": t.end}
                   for t in tokens], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"predicted: {explanation.predicted_name} {explanation.predicted_probability:.3f}")
    if explanation.class_index != explanation.predicted_index:
        print(f"explained class: {explanation.class_name} {explanation.probability:.3f}")
    width = max((len(t.token) for t in tokens), default=0)
    for t in tokens:
        print(f"  {t.token:<{width}}  {t.score:+.4f}")
    if explanation.truncated:
        print("(the text was cut at the model's maximum length; later words were not seen)")
    if out is not None:
        print(f"highlighted text written to {out}")
    return 0


def cmd_explain(args) -> int:
    from tlstudio.core.runs.folder import load_model
    from tlstudio.core.device import resolve_device

    loaded = load_model(args.run_dir, device=resolve_device(args.device))
    return {"image": _explain_image, "text": _explain_text}[loaded.task](args, loaded)
