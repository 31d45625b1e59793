"""Tiny random Hugging Face model folders (config classes, no download) for text tests."""
import shutil

import torch

WORDS = ("the a of and in on with is was very big small red green blue cat dog bird fish tree flower "
         "rain snow sun wind storm cloud cold hot warm eat food bread cake apple soup sweet salty").split()


def word_tokenizer(folder, *, eos: bool = False):
    """A word-level fast tokenizer saved in ``folder`` (GPT-2 style: no pad token, only EOS)."""
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    specials = ["[UNK]", "<|endoftext|>"] if eos else ["[UNK]", "[PAD]", "[CLS]"]
    vocab = {w: i for i, w in enumerate(specials + list(WORDS))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    kwargs = {"eos_token": "<|endoftext|>"} if eos else {"pad_token": "[PAD]", "cls_token": "[CLS]"}
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", **kwargs)
    fast.save_pretrained(folder)
    return len(vocab)


def save_tiny(folder, family: str):
    """A tiny random ``family`` model ("bert", "gpt2", "xlnet", "distilbert") with a tokenizer."""
    import transformers

    torch.manual_seed(0)
    if family == "bert":       # real English word pieces: the bundled MiniLM's tokenizer
        from tlstudio.core.zoo.text_sources import bundled_model_folder

        src = bundled_model_folder()
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if (src / name).is_file():
                shutil.copyfile(src / name, folder / name)
        cfg = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                                      intermediate_size=48, max_position_embeddings=64)
        transformers.BertModel(cfg).save_pretrained(folder)
        return folder
    vocab = word_tokenizer(folder, eos=family == "gpt2")
    if family == "gpt2":
        cfg = transformers.GPT2Config(vocab_size=vocab, n_embd=32, n_layer=3, n_head=2, n_positions=64)
        transformers.GPT2LMHeadModel(cfg).save_pretrained(folder)    # with its LM head, as on the hub
    elif family == "xlnet":
        cfg = transformers.XLNetConfig(vocab_size=vocab, d_model=32, n_layer=3, n_head=2, d_inner=48)
        transformers.XLNetModel(cfg).save_pretrained(folder)
    else:
        cfg = transformers.DistilBertConfig(vocab_size=vocab, dim=32, n_layers=3, n_heads=2, hidden_dim=48,
                                            max_position_embeddings=64, pad_token_id=1)
        transformers.DistilBertModel(cfg).save_pretrained(folder)
    return folder


TOPICS = {"weather": "rain snow sun wind storm cloud cold hot warm".split(),
          "animals": "cat dog bird fish".split(),
          "food": "eat food bread cake apple soup sweet salty".split()}


def write_topic_csv(path, per_class: int = 16, seed: int = 0):
    """A small CSV of short texts whose words give away their topic."""
    import csv
    import random

    rng = random.Random(seed)
    fill = "the a of and in on with is was very big small red green blue".split()
    rows = []
    for label, words in TOPICS.items():
        for _ in range(per_class):
            n = rng.randint(2, 9)
            text = " ".join(rng.choice(words) if rng.random() < 0.6 else rng.choice(fill) for _ in range(n))
            rows.append((f"{rng.choice(words)} {text}", label))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path
