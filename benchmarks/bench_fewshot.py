"""Benchmark: zero labels and few labels on real text sets, with the bundled all-MiniLM-L6-v2.

Real labelled text sets, all read offline:

* ``demo``: the text demo (resources/demo_text_data: 360 WordNet 3.0 definitions, 6 topics);
* ``debian``: Debian package short descriptions ("Real-time strategy game of ancient warfare")
  labelled by their archive section, eight topical sections (games, fonts, sound, graphics,
  mail, database, math, hamradio), read from the apt lists on this machine
  (/var/lib/apt/lists/*_Packages.lz4, via ``lz4cat``); one text per distinct description, at
  most ``--per-class`` per section (seeded sample);
* ``debian-roles``: the same lists, five sections that say what a package *is* rather than what
  it is about (libdevel, doc, libs, debug, utils);
* ``wordnet-pos``: WordNet 3.0 glosses (Debian's ``wordnet-base``, /usr/share/wordnet) labelled by
  the part of speech of the word they define (noun, verb, adjective, adverb), ``--per-class`` each:
  a label of style, not of topic.

Zero-shot: the nearest class prototype (class name, or "name: description") by cosine; the
accuracy on every labelled text, and the temperature fitted on them (``core/zeroshot``).

Few labels: k = 8 and 16 texts per class drawn per seed; the rest is the test set (at most
``--test-per-class`` per class). Frozen: the pretrained encoder's features + the head search
(``headsearch.search.search_head``: k-fold CV, refit). Contrastive: the encoder tuned on the k per
class (``core/train/contrastive.py``), then the same head search on its features. Mean over
the seeds; wall time of each contrastive run (tuning + encoding + head search). Each row also
shows the few-label probe on the frozen features of the k per class (``core/train/
few_label_probe.py``) and what ``training.few_shot = "auto"`` does with it; ``--probe-only``
prints the frozen figures and the probe alone (no tuning: minutes instead of an hour).

Measured (3 seeds; probe skill = chance-corrected leave-one-out nearest-class-mean accuracy, auto
tunes below 0.725): demo k=8 skill 0.87-0.93, +3.0 points; debian k=8 0.75-0.84, +0.1, k=16
0.79-0.88, -1.4; debian-roles k=8 0.47-0.69, +15.6, k=16 0.56-0.70, +14.2; wordnet-pos k=8
0.42-0.50, frozen 0.606 -> contrastive 0.847 (+24.2).

    python benchmarks/bench_fewshot.py [--seeds 3] [--sizes 8 16] [--sets demo debian debian-roles wordnet-pos] [--probe-only] [--threads 2]
"""
from __future__ import annotations

import argparse
import copy
import glob
import os
import random
import statistics
import subprocess
import time

import torch

DEBIAN_SECTIONS = {
    "games": "computer games and entertainment",
    "fonts": "typefaces and font files",
    "sound": "audio players, editors and sound servers",
    "graphics": "image viewers, editors and drawing programs",
    "mail": "email clients and mail servers",
    "database": "database servers and clients",
    "math": "mathematics: algebra, numerics and statistics",
    "hamradio": "amateur radio software",
}
# The same package lists labelled by what a package is rather than what it is about: a label a sentence
# encoder's topical geometry does not give away ("development files for libdvbpsi" vs "Qt SCXML QCH
# documentation").
DEBIAN_ROLES = {
    "libdevel": "development files: headers and static libraries",
    "doc": "documentation",
    "libs": "shared runtime library",
    "debug": "debugging symbols",
    "utils": "command-line utilities and tools",
}
# WordNet 3.0 glosses (Debian's wordnet-base) labelled by the part of speech of the word they define: "a
# large feline of forests" (noun) vs "move fast" (verb). A style label, not a topic.
WORDNET_POS = {
    "noun": "the definition of a thing", "verb": "the definition of an action",
    "adjective": "the definition of a quality", "adverb": "the definition of a manner",
}
WORDNET_FILES = {"noun": "data.noun", "verb": "data.verb", "adjective": "data.adj", "adverb": "data.adv"}
DEMO_DESCRIPTIONS = {
    "animal": "a kind of animal", "body": "a part of the human body", "feeling": "an emotion or feeling",
    "food": "something to eat or drink", "location": "a place, region or city", "plant": "a kind of plant",
}


def load_demo() -> tuple[list[str], list[int], list[str]]:
    from tlstudio.core.data.text import scan_text
    from tlstudio.core.paths import resources_dir

    index = scan_text(resources_dir() / "demo_text_data" / "wordnet_definitions.csv")
    return [s.text for s in index.samples], [s.label for s in index.samples], list(index.classes)


def load_debian(per_class: int, sections: dict[str, str], seed: int = 0) -> tuple[list[str], list[int], list[str]]:
    lists = sorted(glob.glob("/var/lib/apt/lists/*_Packages.lz4")) + sorted(glob.glob("/var/lib/apt/lists/*_Packages"))
    if not lists:
        raise SystemExit("no apt package lists in /var/lib/apt/lists")
    by_section: dict[str, set[str]] = {s: set() for s in sections}
    for path in lists:
        raw = subprocess.run(["lz4cat", path] if path.endswith(".lz4") else ["cat", path], check=True,
                             capture_output=True).stdout.decode("utf-8", "replace")
        for stanza in raw.split("\n\n"):
            fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " ")
            section, text = fields.get("Section", "").split("/")[-1], fields.get("Description", "").strip()
            if section in by_section and len(text.split()) >= 3:
                by_section[section].add(text)
    rng = random.Random(seed)
    texts, labels = [], []
    classes = list(sections)
    for c, section in enumerate(classes):
        chosen = sorted(by_section[section])
        rng.shuffle(chosen)
        texts += chosen[:per_class]
        labels += [c] * len(chosen[:per_class])
    return texts, labels, classes


def load_wordnet_pos(per_class: int, seed: int = 0) -> tuple[list[str], list[int], list[str]]:
    folder = os.environ.get("WORDNET_DIR", "/usr/share/wordnet")
    rng = random.Random(seed)
    texts, labels = [], []
    classes = list(WORDNET_FILES)
    for c, pos in enumerate(classes):
        path = os.path.join(folder, WORDNET_FILES[pos])
        if not os.path.isfile(path):
            raise SystemExit(f"{path} not found: apt-get install wordnet-base")
        glosses = set()
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  ") or " | " not in line:
                    continue
                gloss = line.split(" | ", 1)[1].split(";")[0].strip().strip('"')
                if len(gloss.split()) >= 3:
                    glosses.add(gloss)
        chosen = sorted(glosses)
        rng.shuffle(chosen)
        texts += chosen[:per_class]
        labels += [c] * len(chosen[:per_class])
    return texts, labels, classes


def probe(feats, labels) -> str:
    """The few-label probe on the frozen features of the k per class, and what "auto" does with it."""
    from tlstudio.core.data.text_modality import TextModality
    from tlstudio.core.train.few_label_probe import leave_one_out_centroid_accuracy

    p = leave_one_out_centroid_accuracy(feats, labels)
    return (f"probe {p.accuracy:.3f} (skill {p.skill:.3f}: auto "
            f"{'tunes' if p.skill < TextModality.few_label_probe_enough else 'keeps frozen'})")


def zero_shot(model, feats, labels, classes, descriptions) -> dict:
    from tlstudio.core.zeroshot.prototypes import calibrate, class_prompt, cosine_scores

    y = torch.tensor(labels)
    out = {}
    for name, prompts in (("names", [class_prompt(c) for c in classes]),
                          ("names + descriptions", [class_prompt(c, descriptions[c]) for c in classes])):
        scores = cosine_scores(feats, model.encode(prompts, max_length=128))
        cal = calibrate(scores, y)
        out[name] = (float((scores.argmax(1) == y).float().mean()), cal)
    return out


def draw(labels, k, seed, test_per_class):
    rng = random.Random(seed)
    train, test = [], []
    for c in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == c]
        rng.shuffle(members)
        train += members[:k]
        test += members[k:k + test_per_class]
    return train, test


def head_accuracy(train_x, train_y, test_x, test_y, n_classes, seed) -> float:
    from tlstudio.core.headsearch.search import search_head

    result = search_head(train_x, train_y, train_x[:0], train_y[:0], n_classes, seed=seed)
    with torch.no_grad():
        return float((result.head(test_x).argmax(1) == test_y).float().mean())


def few_shot(model, pre, texts, labels, n_classes, k, seed, test_per_class, feats_frozen, steps, lr) -> dict:
    from tlstudio.core.data.text_modality import TextModality
    from tlstudio.core.train.contrastive import class_separation, tune_base

    train, test = draw(labels, k, seed, test_per_class)
    y = torch.tensor(labels)
    frozen = head_accuracy(feats_frozen[train], y[train], feats_frozen[test], y[test], n_classes, seed)
    probed = probe(feats_frozen[train], y[train])
    if steps == 0:          # --probe-only: the frozen figures and the probe, no tuning
        return {"frozen": frozen, "probe": probed}
    t0 = time.perf_counter()
    encoder = copy.deepcopy(model.encoder)
    modality = TextModality()
    from tlstudio.core.data.index import Sample
    samples = [Sample(f"t:{i}", labels[i], texts[i]) for i in train]
    ds = modality.train_dataset(pre, samples, augment="none", seed=seed)
    report = tune_base(encoder, [ds[i] for i in range(len(samples))], modality.collate, seed=seed,
                       steps=steps, lr=lr)
    tuned_model = copy.copy(model)
    tuned_model.encoder = encoder
    feats = tuned_model.encode([texts[i] for i in train + test], max_length=pre.max_length)
    tr, te = feats[:len(train)], feats[len(train):]
    contrastive = head_accuracy(tr, y[train], te, y[test], n_classes, seed)
    return {"frozen": frozen, "probe": probed, "contrastive": contrastive, "seconds": time.perf_counter() - t0,
            "tune_seconds": report.seconds, "steps": report.steps,
            "sep_test_before": class_separation(feats_frozen[test], y[test]),
            "sep_test_after": class_separation(te, y[test])}


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime unavailable"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 16])
    ap.add_argument("--sets", nargs="+", default=["demo", "debian", "debian-roles", "wordnet-pos"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--per-class", type=int, default=80, help="debian: texts per section")
    ap.add_argument("--test-per-class", type=int, default=30)
    ap.add_argument("--steps", type=int, default=None, help="contrastive steps (default: automatic)")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--no-zero-shot", action="store_true")
    ap.add_argument("--probe-only", action="store_true",
                    help="frozen accuracy and the few-label probe per seed; no tuning")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    from tlstudio.core.data.text_modality import TextModality
    from tlstudio.core.model.build import card_for
    from tlstudio.core.train.contrastive import LR
    from tlstudio.core.zoo.text_encoder import load_text_model

    t_all = time.perf_counter()
    print(f"load at start: {uptime()}")
    model = load_text_model(allow_download=False)
    pre = TextModality().preprocessing(card_for("all-MiniLM-L6-v2", "text"), type("M", (), {"max_length": 64})())
    for name in args.sets:
        descriptions = {"demo": DEMO_DESCRIPTIONS, "debian": DEBIAN_SECTIONS, "debian-roles": DEBIAN_ROLES, "wordnet-pos": WORDNET_POS}[name]
        texts, labels, classes = (load_demo() if name == "demo" else load_wordnet_pos(args.per_class)
                                  if name == "wordnet-pos" else load_debian(args.per_class, descriptions))
        counts = [labels.count(c) for c in range(len(classes))]
        print(f"\n== {name}: {len(texts)} texts, {len(classes)} classes ({', '.join(classes)}); per class {counts}")
        t0 = time.perf_counter()
        feats = model.encode(texts, max_length=pre.max_length)
        if not args.no_zero_shot:
            for how, (acc, cal) in zero_shot(model, feats, labels, classes, descriptions).items():
                print(f"zero-shot ({how}): acc {acc:.3f} (chance {1 / len(classes):.3f}); temperature "
                      f"{cal.temperature:.4f} fitted on {cal.fitted_on}; ECE at the default T "
                      f"{cal.ece_before:.3f} -> {cal.ece_after:.3f}")
            print(f"  zero-shot wall time (encoding every text once) {time.perf_counter() - t0:.1f} s")
        for k in args.sizes:
            rows = [few_shot(model, pre, texts, labels, len(classes), k, seed, args.test_per_class, feats,
                             0 if args.probe_only else args.steps, args.lr or LR) for seed in range(args.seeds)]
            if args.probe_only:
                for seed, r in enumerate(rows):
                    print(f"  k={k} seed {seed}: frozen {r['frozen']:.3f}  {r['probe']}")
                print(f"k={k}/class, mean of {len(rows)} seeds: frozen + searched head "
                      f"{statistics.mean(r['frozen'] for r in rows):.3f}")
                continue
            for seed, r in enumerate(rows):
                print(f"  k={k} seed {seed}: frozen {r['frozen']:.3f}  {r['probe']}  contrastive {r['contrastive']:.3f}  "
                      f"({r['steps']} steps, tune {r['tune_seconds']:.0f} s, whole {r['seconds']:.0f} s; test "
                      f"separation {r['sep_test_before']:.3f} -> {r['sep_test_after']:.3f})")
            fz = statistics.mean(r["frozen"] for r in rows)
            ct = statistics.mean(r["contrastive"] for r in rows)
            wall = statistics.mean(r["seconds"] for r in rows)
            print(f"k={k}/class, mean of {len(rows)} seeds: frozen + searched head {fz:.3f}, contrastive {ct:.3f} "
                  f"({(ct - fz) * 100:+.1f} points); contrastive run {wall:.0f} s mean; load: {uptime()}")
    print(f"\ntotal wall time {time.perf_counter() - t_all:.0f} s; load at end: {uptime()}")
    print("(2 shared cores: wall times are noisy; the load average above says how busy the machine was)")


if __name__ == "__main__":
    main()
