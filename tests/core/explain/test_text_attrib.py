"""Word attributions: the deciding word wins; the attributions add up; the model is not changed."""
import pytest
import torch

from tlstudio.core.data.text_modality import TextPreprocessing, tokenize
from tlstudio.core.explain import ExplainError, explain_text, explanation_html
from tlstudio.core.model.head import HeadSpec
from tlstudio.core.runs.folder import LoadedModel, load_model

from tests.core.explain.text_runs import train_minilm_keyword_run
from tests.core.text.tiny_models import save_tiny

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def minilm_run(tmp_path_factory):
    torch.set_num_threads(2)
    base = tmp_path_factory.mktemp("minilm")
    return load_model(train_minilm_keyword_run(base / "run", base))


@pytest.mark.parametrize("text, keyword, label", [
    ("the big red cat is very small", "cat", "animals"),
    ("a green storm on the blue", "storm", "weather"),
    ("in the dog with a very big red", "dog", "animals"),
    ("small and big snow of the", "snow", "weather"),
])
def test_the_word_that_decides_the_class_gets_the_top_attribution(minilm_run, text, keyword, label):
    explanation = explain_text(minilm_run, text)
    assert explanation.predicted_name == label and explanation.class_name == label
    top = max(explanation.words, key=lambda w: w.score)
    assert top.token == keyword, [(w.token, round(w.score, 3)) for w in explanation.words]
    assert [w.token for w in explanation.words] == text.split()
    assert all(text[w.start:w.end] == w.token for w in explanation.words)
    html = explanation_html(explanation)
    assert f">{keyword}</span>" in html and html.count("<span") == len(text.split())


def test_explaining_another_class_flips_the_deciding_word_and_changes_nothing(minilm_run):
    model = minilm_run.model
    for p in model.base.parameters():                      # frozen, as the run trained it
        p.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    against = explain_text(minilm_run, "the big red cat is very small", class_name="weather")
    assert against.class_name == "weather" and against.predicted_name == "animals"
    assert min(against.words, key=lambda w: w.score).token == "cat"
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not model.training and all(p.grad is None for p in model.parameters())
    with pytest.raises(ExplainError, match="empty"):
        explain_text(minilm_run, "   ")


def _tiny_loaded(folder, family: str) -> LoadedModel:
    from tlstudio.core.model.build import card_for, create_transfer_model
    from tlstudio.core.zoo.text_cards import family_for

    torch.manual_seed(1)
    card = card_for(folder, "text")
    model = create_transfer_model(card, HeadSpec([], 2), 2)
    for p in model.base.parameters():
        p.requires_grad_(False)
    pre = TextPreprocessing(str(folder), 16, family_for(family)[1], family)
    return LoadedModel(model=model.eval(), classes=["one", "two"], preprocessing=pre, info={"task": "text"})


def _blanked_logit(loaded, text: str, index: int) -> float:
    """The class score with every word replaced by the padding token (the path's start)."""
    from tlstudio.core.data.text_modality import tokenizer_for

    tokenizer = tokenizer_for(loaded.preprocessing)
    ids = [i if i in tokenizer.all_special_ids else tokenizer.pad_token_id
           for i in tokenize(loaded.preprocessing, [text])[0].ids]
    batch = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
    with torch.no_grad():
        return float(loaded.model(batch)[0, index])


@pytest.mark.parametrize("family", ["gpt2", "xlnet", "bert"])
def test_tiny_random_families_get_attributions_that_add_up_to_the_score_change(tmp_path, family):
    loaded = _tiny_loaded(save_tiny(tmp_path / family, family), family)
    text = "cold rain and a big storm with wind"
    explanation = explain_text(loaded, text, class_name="two", steps=64)
    ids = tokenize(loaded.preprocessing, [text])[0].ids
    assert len(explanation.tokens) == len(ids)
    with torch.no_grad():
        batch = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
        logit = float(loaded.model(batch)[0, 1])
    change = logit - _blanked_logit(loaded, text, 1)
    total = sum(t.score for t in explanation.tokens)
    assert abs(total - change) <= 0.05 * abs(change) + 1e-3, (total, change)
    assert [w.token for w in explanation.words] == text.split()
    assert sum(w.score for w in explanation.words) == pytest.approx(total, abs=1e-6)


def test_word_pieces_are_summed_into_their_word(tmp_path):
    loaded = _tiny_loaded(save_tiny(tmp_path / "bert", "bert"), "bert")
    text = "Unbelievably snowy weather!"
    explanation = explain_text(loaded, text, steps=4)
    assert [w.token for w in explanation.words] == ["Unbelievably", "snowy", "weather", "!"]
    pieces = [t for t in explanation.tokens if 0 <= t.start < len("Unbelievably")]
    assert len(pieces) > 1                                      # split into word pieces...
    assert explanation.words[0].score == pytest.approx(sum(t.score for t in pieces))   # ...and summed back
    assert explanation.tokens[0].start == -1 and explanation.tokens[0].score == 0.0   # [CLS] is held fixed
