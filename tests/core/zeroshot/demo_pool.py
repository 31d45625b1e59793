"""The demo texts split into labelled samples and an unlabeled pool (as ``DatasetIndex.pool`` holds it)."""
import dataclasses

from tlstudio.core.data.text import scan_text
from tlstudio.core.paths import resources_dir

DEMO = resources_dir() / "demo_text_data" / "wordnet_definitions.csv"


def demo_with_pool(per_class: int, pool: int = 0):
    """The first ``per_class`` definitions of each class labelled, the next ``pool`` unlabeled (label -1);
    returns the index and the pool's true class names by path."""
    index = scan_text(DEMO)
    labelled, unlabeled, truth = [], [], {}
    for c in range(len(index.classes)):
        members = [s for s in index.samples if s.label == c]
        labelled += members[:per_class]
        for s in members[per_class:per_class + pool]:
            unlabeled.append(dataclasses.replace(s, label=-1))
            truth[s.path] = index.classes[c]
    subset = dataclasses.replace(index, samples=labelled)
    subset.pool = unlabeled
    return subset, truth
