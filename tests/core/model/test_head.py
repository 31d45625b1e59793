"""HeadSpec: counts match the built module, JSON round trip, clear errors."""
import json

import pytest
import torch

from tlstudio.core.errors import HeadSpecError
from tlstudio.core.model.head import HeadLayer, HeadSpec

SPECS = [
    HeadSpec([], num_classes=2),
    HeadSpec.default(5),
    HeadSpec([HeadLayer("linear", width=64), HeadLayer("activation", activation="gelu"),
              HeadLayer("dropout", p=0.5), HeadLayer("linear", width=7)], num_classes=3),
    HeadSpec([HeadLayer("batchnorm"), HeadLayer("linear", width=32), HeadLayer("layernorm"),
              HeadLayer("activation", activation="silu")], num_classes=10),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "+".join(s.describe()))
def test_param_count_matches_built_module(spec):
    head = spec.build(48)
    assert spec.param_count(48) == sum(p.numel() for p in head.parameters())
    out = head.eval()(torch.zeros(2, 48))
    assert out.shape == (2, spec.num_classes)
    assert head[-1].in_features == (spec.widths(48) or [48])[-1]


def test_num_classes_override_sizes_the_output_layer():
    spec = HeadSpec.default(2)
    head = spec.build(16, 9)
    assert head[-1].out_features == 9 and spec.param_count(16, 9) == 16 * 9 + 9


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "+".join(s.describe()))
def test_json_round_trip(spec):
    text = json.dumps(spec.to_dict())
    again = HeadSpec.from_dict(json.loads(text))
    assert again == spec and again.to_dict() == spec.to_dict()


def test_from_dict_normalises_layer_type_case():
    spec = HeadSpec.from_dict({"layers": [{"type": "Linear", "width": 8}], "num_classes": 3})
    assert spec.layers == [HeadLayer("linear", width=8)]


@pytest.mark.parametrize("spec, message", [
    (HeadSpec([HeadLayer("dropout", p=1.0)], 3), r"dropout p must be in \[0, 1\); got 1.0"),
    (HeadSpec([HeadLayer("dropout", p=-0.1)], 3), r"dropout p must be in \[0, 1\); got -0.1"),
    (HeadSpec([HeadLayer("dropout", p=True)], 3), "dropout p must be"),
    (HeadSpec([HeadLayer("linear", width=0)], 3), "width must be a whole number above 0; got 0"),
    (HeadSpec([HeadLayer("linear", width=2.5)], 3), "width must be a whole number"),
    (HeadSpec([], num_classes=1), "at least 2 classes; this head has 1"),
    (HeadSpec([HeadLayer("activation", activation="tanh")], 3), "activation must be one of relu, gelu, silu"),
    (HeadSpec([HeadLayer("conv")], 3), "unknown layer type; use one of linear"),
])
def test_invalid_specs_raise_clear_errors(spec, message):
    for call in (spec.validate, lambda: spec.build(16), lambda: spec.param_count(16)):
        with pytest.raises(HeadSpecError, match=message):
            call()


def test_error_names_the_layer_position():
    spec = HeadSpec([HeadLayer("linear", width=8), HeadLayer("dropout", p=2)], 3)
    with pytest.raises(HeadSpecError, match=r"^Head layer 2 \(dropout\):"):
        spec.validate()


@pytest.mark.parametrize("data", [
    [], {"layers": {"type": "linear"}}, {"layers": [{"width": 3}]}, {"layers": ["relu"]},
    {"layers": [], "num_classes": "three"}, {"layers": [], "num_classes": 2.5},
])
def test_malformed_json_raises_head_spec_error(data):
    with pytest.raises(HeadSpecError):
        HeadSpec.from_dict(data)
