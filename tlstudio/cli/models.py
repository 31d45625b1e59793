"""tlstudio-cli models: the model cards (image or text) as a table or JSON."""
from __future__ import annotations

import json
import sys


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _human_params(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}K"


def _text_models(args) -> int:
    from tlstudio.core.zoo.text_cards import list_text_cards
    from tlstudio.core.zoo.text_sources import text_weight_source

    rows = []
    for card in list_text_cards():
        words = (args.search or "").lower().split()
        if args.family and card.family.lower() != args.family.strip().lower():
            continue
        if not all(w in f"{card.name} {card.family}".lower() for w in words):
            continue
        row = card.to_dict()
        row["weights"] = text_weight_source(card.name)
        rows.append(row)
    return _print_models(rows, args.json, [("tokens", "max_length", ">6"), ("pooling", "pooling", "<7")])


def _print_models(rows: list[dict], as_json: bool, extra: list[tuple[str, str, str]]) -> int:
    """The models table (name, family, params, ``extra`` columns as (title, key, format), weights) or JSON."""
    if as_json:
        print_json(rows)
        return 0
    if not rows:
        print("No models match.")
        return 0
    width = max(len(r["name"]) for r in rows)
    fam = max(len(r["family"]) for r in rows)
    titles = "".join(f"  {title:{fmt}}" for title, _, fmt in extra)
    print(f"{'name':<{width}}  {'family':<{fam}}  {'params':>7}{titles}  weights")
    for r in rows:
        cells = "".join(f"  {r[key]:{fmt}}" for _, key, fmt in extra)
        print(f"{r['name']:<{width}}  {r['family']:<{fam}}  {_human_params(r['params']):>7}{cells}  {r['weights']}")
    return 0


def cmd_models(args) -> int:
    return {"image": _image_models, "text": _text_models}[args.task](args)


def _image_models(args) -> int:
    from tlstudio.core.zoo.cards import list_cards
    from tlstudio.core.zoo.weights import weight_source

    rows = []
    for card in list_cards(search=args.search, family=args.family):
        row = card.to_dict()
        row["input_size"] = card.preprocessing.input_size
        row["weights"] = weight_source(card)
        rows.append(row)
    return _print_models(rows, args.json, [("input", "input_size", ">5")])
