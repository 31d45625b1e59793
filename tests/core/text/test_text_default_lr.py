"""Text projects' default learning rate for the epoch loop (the image default is slow for text heads)."""
import pytest

from tlstudio.core.data.modality import modality_for
from tlstudio.core.project import Project
from tlstudio.core.train import trainer as trainer_module
from tlstudio.core.train.trainer import Trainer

from tests.core.text.tiny_models import save_tiny, write_topic_csv

TEXT_DEFAULT_LR = modality_for("text").default_lr

pytest.importorskip("transformers")


def test_the_epoch_lr_follows_the_task_only_when_the_user_left_it():
    image = Project()
    assert image.epoch_lr() == image.training.lr == 1e-3                  # image default unchanged
    text = Project(task="text")
    assert text.epoch_lr() == TEXT_DEFAULT_LR == 1e-2 and text.training.lr == 1e-3
    text.training.set_explicit("lr")                                      # the user typed 1e-3: kept
    assert text.epoch_lr() == 1e-3
    other = Project(task="text")
    other.training.lr = 5e-3                                               # a value set in code or a file
    assert other.epoch_lr() == 5e-3
    # a saved text project with lr left to the defaults keeps following them
    back = Project.from_dict(Project(task="text").to_dict())
    assert back.epoch_lr() == TEXT_DEFAULT_LR


@pytest.mark.parametrize("explicit", [False, True])
def test_the_trainer_uses_it_for_the_head(tmp_path, monkeypatch, explicit):
    model = save_tiny(tmp_path / "tiny-bert", "bert")
    data = write_topic_csv(tmp_path / "data.csv")
    seen = []
    real = trainer_module.build_optimizer
    monkeypatch.setattr(trainer_module, "build_optimizer", lambda name, groups, lr: seen.append(lr) or real(
        name, groups, lr))
    project = Project(task="text")
    project.data.path, project.model.name, project.model.max_length = str(data), str(model), 32
    project.training.head_fit, project.training.epochs = "epochs", 1
    if explicit:
        project.training.set_explicit("lr")
    metrics = Trainer(project, tmp_path / "run", lambda e: None).run()
    assert metrics["error"] is None, metrics["error"]
    assert seen == [1e-3 if explicit else TEXT_DEFAULT_LR]
