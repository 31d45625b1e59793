"""Length bucketing of text training batches: less padding, every text once per epoch, seeded."""
import random

import pytest
import torch

from tlstudio.core.data import text_batching as tb
from tlstudio.core.data import text_modality as tm
from tlstudio.core.paths import resources_dir
from tlstudio.core.project import Project
from tlstudio.core.train.trainer import Trainer

from tests.core.text.tiny_models import save_tiny

pytest.importorskip("transformers")
DEMO = resources_dir() / "demo_text_data" / "wordnet_definitions.csv"


def _batches(order, size):
    return [order[i:i + size] for i in range(0, len(order), size)]


def test_bucketing_keeps_every_index_once_and_pads_less_than_random_batches():
    rng = random.Random(0)
    lengths = [rng.randint(3, 60) for _ in range(1003)]
    shuffled = list(range(len(lengths)))
    rng.shuffle(shuffled)
    order = tb.bucket_by_length(shuffled, lengths, 32, seed=5)
    assert sorted(order) == list(range(len(lengths)))
    batches = _batches(order, 32)
    assert all(len(b) == 32 for b in batches[:-1]) and len(batches[-1]) == 1003 % 32   # only the last is short
    random_pad = tb.padded_fraction(_batches(shuffled, 32), lengths)
    bucket_pad = tb.padded_fraction(batches, lengths)
    assert bucket_pad < 0.15 < 0.35 < random_pad, (bucket_pad, random_pad)
    # deterministic per seed and order; another seed or epoch order gives other batches
    assert tb.bucket_by_length(shuffled, lengths, 32, seed=5) == order
    assert tb.bucket_by_length(shuffled, lengths, 32, seed=6) != order
    reshuffled = shuffled[:]
    rng.shuffle(reshuffled)
    other = tb.bucket_by_length(reshuffled, lengths, 32, seed=5)
    assert {frozenset(b) for b in _batches(other, 32)} != {frozenset(b) for b in batches}
    # one batch per chunk: the batches are the random ones (in another order), nothing is sorted across them
    one = _batches(tb.bucket_by_length(shuffled, lengths, 32, chunk_batches=1), 32)
    assert {frozenset(b) for b in one} == {frozenset(b) for b in _batches(shuffled, 32)}
    with pytest.raises(ValueError):
        tb.bucket_by_length(shuffled, lengths, 0)


def test_the_trainer_pads_less_with_length_buckets_and_sees_every_text_once_per_epoch(tmp_path, monkeypatch):
    """Encoder training (no feature cache): what the collate function is given, per epoch."""
    torch.set_num_threads(2)
    model = save_tiny(tmp_path / "tiny-bert", "bert")
    batches: list[tuple] = []
    real_collate = tm.TextModality.collate

    def spy(self, items):
        batch = real_collate(self, items)
        batches.append((tuple(x.ids for x, _ in items), batch[0]["attention_mask"]))
        return batch
    monkeypatch.setattr(tm.TextModality, "collate", spy)

    def train(name):
        batches.clear()
        project = Project(name="bucketing", task="text")
        project.data.path = str(DEMO)
        project.model.name = str(model)
        project.model.max_length = 64
        project.training.head_fit = "epochs"
        project.training.use_cache = False       # the encoder runs on every training batch
        project.training.epochs = 2
        project.training.batch_size = 16
        project.training.lr = 1e-3
        metrics = Trainer(project, tmp_path / name, lambda e: None).run()
        assert metrics["error"] is None, metrics["error"]
        n_train, n_val = metrics["train_images"], metrics["val_images"]
        epochs, i = [], 0
        for _ in range(2):                        # each epoch: its training batches, then validation
            seen, pad = [], []
            while len(seen) < n_train:
                ids, mask = batches[i]
                seen += ids
                pad.append((mask.numel() - int(mask.sum()), mask.numel()))
                i += 1
            assert len(seen) == n_train
            val = 0
            while val < n_val:
                val += len(batches[i][0])
                i += 1
            epochs.append((seen, sum(p for p, _ in pad) / sum(n for _, n in pad)))
        return epochs

    bucketed = train("bucketed")
    monkeypatch.setattr(tb, "bucket_by_length", lambda *a, **k: None)    # the old, random batches
    random_batches = train("random")
    for (seen, pad), (seen_random, pad_random) in zip(bucketed, random_batches):
        assert sorted(seen) == sorted(seen_random)               # every training text, once per epoch
        assert len(set(seen)) == len(seen)
        assert pad < 0.5 * pad_random, (pad, pad_random)
    assert bucketed[0][0] != bucketed[1][0]                       # another order in the next epoch
    print(f"padding: bucketed {[round(p, 3) for _, p in bucketed]} random {[round(p, 3) for _, p in random_batches]}")
