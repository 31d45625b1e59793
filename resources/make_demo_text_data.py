"""Regenerate resources/demo_text_data/ from Debian's WordNet 3.0 package.

The demo text dataset is 360 real dictionary definitions ("glosses") written by
WordNet's lexicographers, 60 in each of six topics taken from WordNet's own
lexicographer files: animal, body, feeling, food, location, plant. Each text is
a gloss's definition only (its quoted usage examples are cut off); glosses of
taxonomic groups ("genus of ...", "family of ...") are left out, so animals and
plants are described as things, not as Latin names. Drawn with a fixed seed.

Usage: python resources/make_demo_text_data.py [--source FILE] [--out DIR]
(``apt-get install wordnet-base`` provides /usr/share/wordnet/data.noun.)
"""
from __future__ import annotations

import argparse
import csv
import io
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tlstudio.core.atomic import write_text  # noqa: E402

SOURCE = Path("/usr/share/wordnet/data.noun")
OUT = Path(__file__).resolve().parent / "demo_text_data"
# WordNet lexicographer file number -> class name (noun.animal is file 05, ...).
TOPICS = {5: "animal", 8: "body", 12: "feeling", 13: "food", 15: "location", 20: "plant"}
PER_CLASS = 60
SEED = 2024
MIN_CHARS, MAX_CHARS = 25, 160
TAXONOMIC = re.compile(r"^(a |an |the )?(genus|family|order|suborder|subfamily|superfamily|class|subclass|"
                       r"phylum|subphylum|division|tribe|kingdom|subkingdom|infraorder|superorder)\b")

LICENSE_TEXT = """\
The texts in wordnet_definitions.csv are dictionary definitions (glosses) from
WordNet 3.0 by Princeton University, as packaged by Debian (wordnet-base),
chosen with resources/make_demo_text_data.py: six topics from WordNet's noun
lexicographer files, 60 definitions each, usage examples removed.

WordNet Release 3.0

This software and database is being provided to you, the LICENSEE, by
Princeton University under the following license.  By obtaining, using
and/or copying this software and database, you agree that you have
read, understood, and will comply with these terms and conditions.:

Permission to use, copy, modify and distribute this software and
database and its documentation for any purpose and without fee or
royalty is hereby granted, provided that you agree to comply with
the following copyright notice and statements, including the disclaimer,
and that the same appear on ALL copies of the software, database and
documentation, including modifications that you make for internal
use or for distribution.

WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.

THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON
UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES, EXPRESS OR
IMPLIED.  BY WAY OF EXAMPLE, BUT NOT LIMITATION, PRINCETON
UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES OF MERCHANT-
ABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE OR THAT THE USE
OF THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT
INFRINGE ANY THIRD PARTY PATENTS, COPYRIGHTS, TRADEMARKS OR
OTHER RIGHTS.

The name of Princeton University or Princeton may not be used in
advertising or publicity pertaining to distribution of the software
and/or database.  Title to copyright in this software, database and
any associated documentation shall at all times remain with
Princeton University and LICENSEE agrees to preserve same.
"""


def definitions(source: Path) -> dict[str, list[str]]:
    """Usable definitions per topic, in file order."""
    found: dict[str, list[str]] = {name: [] for name in TOPICS.values()}
    seen: set[str] = set()
    with open(source, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(" ") or " | " not in line:
                continue   # the licence header lines start with spaces
            fields = line.split(" ", 3)
            topic = TOPICS.get(int(fields[1]))
            if topic is None:
                continue
            gloss = line.split(" | ", 1)[1].strip()
            text = gloss.split('; "', 1)[0].split(' "', 1)[0].strip().rstrip(";").strip()
            if not (MIN_CHARS <= len(text) <= MAX_CHARS) or TAXONOMIC.match(text) or '"' in text:
                continue
            if text.lower() in seen:
                continue
            seen.add(text.lower())
            found[topic].append(text)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"{args.source} not found; install Debian's wordnet-base.", file=sys.stderr)
        return 1
    rng = random.Random(SEED)
    rows = []
    for topic, texts in sorted(definitions(args.source).items()):
        if len(texts) < PER_CLASS:
            print(f"only {len(texts)} definitions for {topic}", file=sys.stderr)
            return 1
        rows += [(text, topic) for text in rng.sample(texts, PER_CLASS)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "wordnet_definitions.csv", buffer.getvalue())
    write_text(args.out / "LICENSE-wordnet.txt", LICENSE_TEXT)
    print(f"wrote {len(rows)} definitions to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
