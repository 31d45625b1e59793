"""Text zoo: cards, weight sources, pooling per family and batch independence (offline)."""
import json

import pytest
import torch

from tlstudio.core.errors import ModelError, WeightsError
from tlstudio.core.zoo import text_cards as tc
from tlstudio.core.zoo import text_encoder as te
from tlstudio.core.zoo import text_sources as ts

transformers = pytest.importorskip("transformers")


def _tiny(model_type: str):
    """A tiny random base model of each family, from transformers' config classes."""
    torch.manual_seed(0)
    common = dict(vocab_size=64)
    if model_type == "bert":
        cfg = transformers.BertConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                                      intermediate_size=48, **common)
    elif model_type == "distilbert":
        cfg = transformers.DistilBertConfig(dim=32, n_layers=3, n_heads=2, hidden_dim=48, **common)
    elif model_type == "roberta":
        cfg = transformers.RobertaConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                                         intermediate_size=48, pad_token_id=1, **common)
    elif model_type == "gpt2":
        cfg = transformers.GPT2Config(n_embd=32, n_layer=3, n_head=2, n_positions=64, **common)
    else:
        cfg = transformers.XLNetConfig(d_model=32, n_layer=3, n_head=2, d_inner=48, **common)
    return transformers.AutoModel.from_config(cfg).eval()


def _pad(seqs, side, pad_id):
    longest = max(len(s) for s in seqs)
    ids, mask = [], []
    for s in seqs:
        fill = [pad_id] * (longest - len(s))
        ids.append(fill + s if side == "left" else s + fill)
        ones, zeros = [1] * len(s), [0] * (longest - len(s))
        mask.append(zeros + ones if side == "left" else ones + zeros)
    return torch.tensor(ids), torch.tensor(mask)


FAMILIES = [("bert", "first", "right"), ("distilbert", "first", "right"), ("roberta", "first", "right"),
            ("gpt2", "last", "right"), ("xlnet", "last", "left")]


@pytest.mark.parametrize("model_type,pooling,side", FAMILIES)
def test_family_pooling_picks_the_right_token_and_ignores_batch_mates(model_type, pooling, side):
    base = _tiny(model_type)
    assert tc.family_for(model_type)[1:] == (pooling, side)
    with torch.no_grad():
        alone = [[5, 9, 12, 7], [3, 4], [8, 10, 11, 13, 14, 15, 16]]
        # What each text's vector must be: its own hidden state at the family's token, unpadded.
        expected = []
        for seq in alone:
            hidden = base(input_ids=torch.tensor([seq]), attention_mask=torch.ones(1, len(seq),
                                                                                   dtype=torch.long))[0][0]
            expected.append(hidden[0] if pooling == "first" else hidden[-1])
        encoder = te.TextEncoder(base, pooling).eval()
        ids, mask = _pad(alone, side, pad_id=2)
        batched = encoder(ids, mask)
        other_ids, other_mask = _pad([alone[1], [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]], side, 2)
        with_others = encoder(other_ids, other_mask)[0]
    for got, want in zip(batched, expected):
        torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(with_others, batched[1], atol=2e-5, rtol=1e-4)
    # The wrong end of the padding would give a different vector (the check can fail).
    wrong = te.Pooling("first" if pooling == "last" else "last")
    with torch.no_grad():
        hidden = base(input_ids=ids, attention_mask=mask)[0]
    assert not torch.allclose(wrong(hidden, mask)[1], expected[1], atol=1e-3)


def test_mean_pooling_counts_only_real_tokens():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(te.Pooling("mean")(hidden, mask), torch.tensor([[2.0, 3.0]]))
    torch.testing.assert_close(te.Pooling("max")(hidden, mask), torch.tensor([[3.0, 4.0]]))
    left = torch.tensor([[[9.0, 9.0], [1.0, 2.0], [3.0, 4.0]]])
    torch.testing.assert_close(te.Pooling("first")(left, torch.tensor([[0, 1, 1]])), torch.tensor([[1.0, 2.0]]))
    with pytest.raises(ModelError):
        te.Pooling("median")


@pytest.mark.parametrize("model_type", ["bert", "gpt2", "xlnet"])
def test_block_groups_and_unfreeze_last_count_transformer_layers(model_type):
    encoder = te.TextEncoder(_tiny(model_type), tc.family_for(model_type)[1])
    groups = encoder.block_groups()
    assert [g.name for g in groups] == ["embeddings", "layer 1", "layer 2", "layer 3", "pooler"]
    names = [n for n, _ in encoder.named_parameters()]
    assert sorted(p for g in groups for p in g.params) == sorted(names)   # every parameter, once
    assert groups[0].params and all(g.params for g in groups[1:4])
    if model_type == "gpt2":
        assert groups[-1].params == ("base.ln_f.weight", "base.ln_f.bias")
    encoder.unfreeze_last(2)
    trainable = {n for n, p in encoder.named_parameters() if p.requires_grad}
    assert trainable == set(groups[2].params + groups[3].params + groups[4].params)
    encoder.unfreeze_last(0)
    assert not any(p.requires_grad for p in encoder.parameters())


def test_bert_pooler_head_is_removed():
    encoder = te.TextEncoder(_tiny("bert"), "first")
    assert not any(".pooler." in n for n, _ in encoder.named_parameters())


def test_card_parameter_counts_match_the_architectures():
    for card in tc.list_text_cards():
        cfg = transformers.AutoConfig.for_model(card.model_type, **card.config)
        with torch.device("meta"):
            base = transformers.AutoModel.from_config(cfg)
        assert sum(p.numel() for p in base.parameters()) == card.params, card.name
        assert tc.family_for(card.model_type)[2] == card.padding_side
    families = {c.family for c in tc.list_text_cards()}
    assert {"BERT", "DistilBERT", "RoBERTa", "MiniLM", "GPT-2", "XLNet"} <= families
    assert tc.get_text_card("openai-community/gpt2").name == "gpt2"
    with pytest.raises(ModelError, match="distilgpt2"):
        tc.get_text_card("distilgpt")


def test_weight_sources_and_offline_download_fails_fast(tmp_path, monkeypatch):
    assert ts.text_weight_source(tc.DEFAULT_TEXT_MODEL) == "bundled"
    assert ts.text_weight_source("gpt2") == "download"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match="no network connection"):
        ts.resolve_model_folder("gpt2")
    with pytest.raises(WeightsError, match="not on this computer"):
        ts.resolve_model_folder("gpt2", allow_download=False)
    # A snapshot in the Hugging Face cache is found under the canonical repo id.
    snap = ts.hf_cache_dir() / "models--openai-community--gpt2" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (snap / name).write_text("{}")
    assert ts.text_weight_source("gpt2") == "cached"
    assert ts.resolve_model_folder("gpt2") == snap
    incomplete = tmp_path / "half"
    incomplete.mkdir()
    (incomplete / "config.json").write_text("{}")
    with pytest.raises(WeightsError, match="lacks weights"):
        ts.resolve_model_folder(incomplete)


def _save_tiny_gpt2_folder(folder):
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["[UNK]", "<|endoftext|>"] + "the cat sat on a mat dog ran far away and then slept".split()
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="<|endoftext|>")
    fast.save_pretrained(folder)
    torch.manual_seed(1)
    cfg = transformers.GPT2Config(vocab_size=len(words), n_embd=32, n_layer=2, n_head=2, n_positions=32)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(folder)   # with an LM head, as on the hub


def test_any_hf_folder_loads_offline_as_a_base_encoder_with_a_pad_token(tmp_path):
    folder = tmp_path / "my-gpt"
    _save_tiny_gpt2_folder(folder)
    assert ts.text_weight_source(folder) == "folder"
    model = te.load_text_model(folder)
    assert type(model.encoder.base).__name__ == "GPT2Model"          # LM head cut off
    assert (model.family, model.pooling, model.padding_side, model.source) == ("GPT-2", "last", "right", "folder")
    assert model.tokenizer.pad_token == "<|endoftext|>" and model.max_length == 32
    texts = ["the cat sat", "the dog ran far away and then slept on a mat", "a cat"]
    together = model.encode(texts, batch_size=3)
    alone = torch.cat([model.encode([t]) for t in texts])
    torch.testing.assert_close(together, alone, atol=2e-5, rtol=1e-4)
    assert together.shape == (3, 32)


def test_sentence_transformers_pooling_config_is_read(tmp_path):
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    assert tc.pooling_for(tmp_path, "bert") == "first"
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    assert tc.pooling_for(tmp_path, "gpt2") == "mean"
    assert tc.pooling_for(tmp_path / "nothing", "xlnet") == "last"


def test_bundled_minilm_puts_paraphrases_closer_than_unrelated_sentences():
    model = te.load_text_model(allow_download=False)
    assert (model.source, model.pooling, model.dim, model.family) == ("bundled", "mean", 384, "MiniLM")
    feats = torch.nn.functional.normalize(model.encode([
        "A man is playing a guitar.", "Someone is strumming an acoustic guitar.",
        "The central bank raised interest rates again."]), dim=1)
    paraphrase, unrelated = float(feats[0] @ feats[1]), float(feats[0] @ feats[2])
    assert paraphrase > 0.6 and paraphrase > unrelated + 0.4
