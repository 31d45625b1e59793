"""Eval/train transforms and augmentation previews."""
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from tlstudio.core.errors import DatasetError
from tlstudio.core.data.transforms import AUGMENT_PRESETS, augment_previews, eval_transform, train_transform
from tlstudio.core.zoo.preprocessing import Preprocessing

PRE = Preprocessing(input_size=24, resize_size=28, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5))


def _picture():
    """A non-square, asymmetric picture, so crops, flips and rotations all change it."""
    im = Image.new("RGB", (60, 40), (30, 60, 90))
    draw = ImageDraw.Draw(im)
    draw.rectangle((5, 5, 25, 30), fill=(250, 200, 0))
    draw.ellipse((35, 10, 55, 25), fill=(0, 180, 250))
    return im


def test_eval_transform_shape_and_normalisation():
    out = eval_transform(PRE)(Image.new("RGB", (50, 30), (255, 102, 0)))
    assert out.shape == (3, 24, 24) and out.dtype == torch.float32
    expected = [(1.0 - 0.5) / 0.2, (0.4 - 0.4) / 0.25, (0.0 - 0.3) / 0.5]
    for c in range(3):
        assert torch.allclose(out[c], torch.full((24, 24), expected[c]), atol=1e-5)


def test_none_preset_equals_eval_and_presets_give_input_size():
    im = _picture()
    assert torch.equal(train_transform(PRE, "none")(im), eval_transform(PRE)(im))
    for preset in AUGMENT_PRESETS:
        assert train_transform(PRE, preset)(im).shape == (3, 24, 24)


def test_previews_count_size_and_determinism():
    im = _picture()
    state = torch.get_rng_state()
    views = augment_previews(im, PRE, "strong", n=5, seed=11)
    assert torch.equal(state, torch.get_rng_state())      # the global RNG is left alone
    assert len(views) == 5 and all(v.mode == "RGB" and v.size == (24, 24) for v in views)
    again = augment_previews(im, PRE, "strong", n=5, seed=11)
    assert [np.asarray(v).tolist() for v in views] == [np.asarray(v).tolist() for v in again]
    other = augment_previews(im, PRE, "strong", n=5, seed=12)
    assert [np.asarray(v).tolist() for v in views] != [np.asarray(v).tolist() for v in other]
    assert len({np.asarray(v).tobytes() for v in views}) > 1     # the views differ from each other


def test_strong_differs_from_none_and_none_is_fixed():
    im = _picture()
    plain = augment_previews(im, PRE, "none", n=3)
    assert len({np.asarray(v).tobytes() for v in plain}) == 1
    strong = augment_previews(im, PRE, "strong", n=3)
    assert all(not np.array_equal(np.asarray(v), np.asarray(plain[0])) for v in strong)
    light = augment_previews(im.convert("L"), PRE, "light", n=2)   # non-RGB input is accepted
    assert all(v.mode == "RGB" for v in light)


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(DatasetError, match="Unknown augmentation preset 'wild'"):
        train_transform(PRE, "wild")
    with pytest.raises(DatasetError, match="none, light, strong"):
        augment_previews(_picture(), PRE, "wild")
