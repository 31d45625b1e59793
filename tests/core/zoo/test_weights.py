"""Weights: sources, reading files, strict checked loading, offline downloads."""
import os
import pickle
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tlstudio.core.zoo import weights as W
from tlstudio.core.zoo.cards import get_card
from tlstudio.core.errors import WeightsError


def _random_state(name="resnet18", seed=1):
    torch.manual_seed(seed)
    return W.build_model(name).state_dict()


def _assert_loaded(model, state):
    own = model.state_dict()
    assert set(own) == set(state)
    for key, value in state.items():
        assert torch.equal(own[key], value), key


def test_cached_torchvision_file_is_found_and_loaded():
    card = get_card("resnet18")
    assert W.weight_source(card) == "download"
    with pytest.raises(WeightsError, match="import a weights file"):
        W.create_pretrained(card, "auto")
    url = W.weights_url(card)
    dest = Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / os.path.basename(url)
    dest.parent.mkdir(parents=True)
    state = _random_state()
    torch.save(state, dest)
    assert W.cached_weights_path(card) == dest
    assert W.weight_source(card) == "cached"
    _assert_loaded(W.create_pretrained(card, "auto"), state)


def test_hugging_face_cache_layout_is_found_for_timm():
    card = get_card("mobilenetv3_small_050")
    repo = "timm/mobilenetv3_small_050.lamb_in1k"
    snap = Path(os.environ["HF_HOME"]) / "hub" / ("models--" + repo.replace("/", "--")) / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    torch.manual_seed(3)
    state = {k: v.contiguous() for k, v in W.build_model(card).state_dict().items()}
    save_file(state, str(snap / "model.safetensors"))
    assert W.weight_source(card) == "cached"
    _assert_loaded(W.create_pretrained(card, "auto"), state)


def test_imported_safetensors_and_wrapped_checkpoint(tmp_path):
    state = _random_state(seed=2)
    plain = tmp_path / "imported.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(plain))
    _assert_loaded(W.create_pretrained("resnet18", str(plain)), state)

    wrapped = tmp_path / "checkpoint.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, wrapped)
    loaded = W.load_weights_file(wrapped)
    assert set(loaded) == set(state)
    _assert_loaded(W.create_pretrained("resnet18", wrapped), state)

    nested = tmp_path / "nested.pt"
    torch.save({"model": state}, nested)
    assert set(W.load_weights_file(nested)) == set(state)


def test_corrupt_missing_and_non_tensor_files(tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(WeightsError, match="broken.pth"):
        W.load_weights_file(bad)
    bad_st = tmp_path / "broken.safetensors"
    bad_st.write_bytes(b"\x00" * 20)
    with pytest.raises(WeightsError, match="broken.safetensors"):
        W.load_weights_file(bad_st)
    with pytest.raises(WeightsError, match="does not exist"):
        W.load_weights_file(tmp_path / "absent.pth")
    not_weights = tmp_path / "numbers.pth"
    torch.save({"a": 1, "b": [2]}, not_weights)
    with pytest.raises(WeightsError, match="numbers.pth"):
        W.load_weights_file(not_weights)


class _RunsCode:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickled_code_is_refused(tmp_path):
    evil, marker = tmp_path / "evil.pth", tmp_path / "code-ran"
    with open(evil, "wb") as fh:
        pickle.dump({"x": _RunsCode(marker)}, fh, protocol=2)
    with pytest.raises(WeightsError, match="evil.pth: refused, because loading it could run code") as err:
        W.load_weights_file(evil)
    assert not marker.exists()
    # One line: why, and what is accepted; none of torch's advice to load it unsafely.
    message = str(err.value)
    assert "\n" not in message and ".safetensors" in message and "weights_only" not in message


def test_a_pickle_with_protocol_4_code_is_refused_in_one_line(tmp_path):
    evil, marker = tmp_path / "evil.pt", tmp_path / "code-ran"
    with open(evil, "wb") as fh:
        pickle.dump(_RunsCode(marker), fh, protocol=4)
    with pytest.raises(WeightsError, match="refused, because loading it could run code") as err:
        W.load_weights_file(evil)
    assert not marker.exists() and "\n" not in str(err.value) and "weights_only" not in str(err.value)


@pytest.mark.parametrize("content", [b"", b"garbage", b"root:x:0:0:root:/root:/bin/bash\n"])
def test_a_file_that_is_not_weights_says_so(tmp_path, content):
    bad = tmp_path / "notes.pth"
    bad.write_bytes(content)
    with pytest.raises(WeightsError, match="notes.pth: it is not a PyTorch .* weights file"):
        W.load_weights_file(bad)


def test_mismatched_weights_name_the_problems_and_leave_the_model_unchanged(tmp_path):
    resnet18 = tmp_path / "r18.pth"
    torch.save(_random_state(), resnet18)
    torch.manual_seed(0)
    model = W.build_model("resnet50")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsError) as info:
        W.load_state_dict_checked(model, W.load_weights_file(resnet18), "r18.pth")
    message = str(info.value)
    assert "r18.pth" in message and "165 missing keys" in message and "layer1.0.conv3.weight" in message
    assert "shape mismatches" in message and "more" in message  # long lists are truncated
    _assert_loaded(model, before)

    torch.save(model.state_dict(), tmp_path / "r50.pth")
    small = W.build_model("resnet18")
    small_before = {k: v.clone() for k, v in small.state_dict().items()}
    with pytest.raises(WeightsError, match=r"unexpected keys \(layer1.0.conv3.weight"):
        W.load_state_dict_checked(small, W.load_weights_file(tmp_path / "r50.pth"), "r50.pth")
    _assert_loaded(small, small_before)

    dropped = _random_state()
    dropped.pop("layer1.0.conv1.weight")
    torch.save(dropped, tmp_path / "dropped.pth")
    with pytest.raises(WeightsError, match=r"1 missing keys \(layer1.0.conv1.weight\)"):
        W.create_pretrained("resnet18", tmp_path / "dropped.pth")


def test_missing_batchnorm_counters_are_tolerated():
    state = {k: v for k, v in _random_state().items() if not k.endswith("num_batches_tracked")}
    model = W.build_model("resnet18")
    W.load_state_dict_checked(model, state, "old.pth")
    assert torch.equal(model.state_dict()["conv1.weight"], state["conv1.weight"])


def test_none_gives_random_init_and_bundled_is_not_cached():
    model = W.create_pretrained("tf_efficientnet_lite0", "none")
    assert not model.training
    assert W.weight_source("tf_efficientnet_lite0") == "bundled"
    assert W.cached_weights_path("tf_efficientnet_lite0") is None


def test_offline_download_fails_fast(monkeypatch):
    def no_network(host, port=443, timeout=W.CONNECT_TIMEOUT_S):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(W, "check_connection", no_network)
    for name in ("resnet18", "mobilenetv3_large_100"):
        start = time.perf_counter()
        with pytest.raises(WeightsError, match="no network connection.*Import a weights file"):
            W.download_weights(name)
        assert time.perf_counter() - start < 1.0
    with pytest.raises(WeightsError, match="no network"):
        W.create_pretrained("resnet18", "download")


def test_connection_check_fails_fast_on_a_closed_port():
    import socket

    with socket.socket() as probe:  # find a local port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(OSError):
        W.check_connection("127.0.0.1", port, timeout=0.5)
    assert time.perf_counter() - start < 2.0
