"""A toy text task whose class is decided by one word among neutral filler, and runs trained on it."""
from __future__ import annotations

import csv
import random
from pathlib import Path

FILLER = "the a of and in on with is was very big small red green blue".split()
KEYWORDS = {"animals": ["cat", "dog", "bird", "fish"], "weather": ["rain", "snow", "storm", "wind"]}


def write_keyword_csv(path: Path, per_class: int = 24, seed: int = 0) -> Path:
    """Texts of 5-9 filler words with one keyword at a random place; the keyword gives the class."""
    rng = random.Random(seed)
    rows = []
    for label, keys in KEYWORDS.items():
        for _ in range(per_class):
            words = [rng.choice(FILLER) for _ in range(rng.randint(4, 8))]
            words.insert(rng.randint(0, len(words)), rng.choice(keys))
            rows.append((" ".join(words), label))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def train_minilm_keyword_run(folder: Path, data_dir: Path) -> Path:
    """The bundled MiniLM, frozen, with a head trained on the keyword task (a real run folder)."""
    from tlstudio.core.project import Project
    from tlstudio.core.train.trainer import Trainer

    project = Project(name="keywords", task="text")
    project.data.path = str(write_keyword_csv(data_dir / "keywords.csv"))
    project.model.name = "all-MiniLM-L6-v2"
    project.model.max_length = 32
    project.training.epochs = 10
    project.training.lr = 1e-2
    project.training.head_fit = "epochs"
    project.training.few_shot = "off"        # the frozen encoder (24 per class would tune it contrastively)
    metrics = Trainer(project, folder, lambda event: None).run()
    assert metrics["error"] is None, metrics["error"]
    return folder
