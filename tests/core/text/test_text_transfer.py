"""Real transfer on real text: the bundled encoder, frozen, + a linear head on the demo data."""
import torch

from tlstudio.core.data.index import split_dataset
from tlstudio.core.data.text import scan_text
from tlstudio.core.paths import resources_dir
from tlstudio.core.zoo.text_encoder import load_text_model


def test_frozen_minilm_and_a_linear_head_classify_held_out_definitions():
    index = scan_text(resources_dir() / "demo_text_data" / "wordnet_definitions.csv")
    split = split_dataset(index, val_fraction=0.3, seed=0)
    model = load_text_model(allow_download=False)
    model.encoder.unfreeze_last(0)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    torch.set_num_threads(2)
    train_x = model.encode([s.text for s in split.train], max_length=64)
    val_x = model.encode([s.text for s in split.val], max_length=64)
    train_y = torch.tensor([s.label for s in split.train])
    val_y = torch.tensor([s.label for s in split.val])

    torch.manual_seed(0)
    head = torch.nn.Linear(model.dim, len(index.classes))
    opt = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(head(train_x), train_y).backward()
        opt.step()
    accuracy = float((head(val_x).argmax(1) == val_y).float().mean())
    chance = 1 / len(index.classes)
    assert accuracy > 0.7 > 3 * chance, accuracy
    assert all(torch.equal(before[k], v) for k, v in model.encoder.state_dict().items())
