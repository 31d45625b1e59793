"""The projects the start page offers: the image demo, the text demo, new empty ones."""
from __future__ import annotations

from pathlib import Path

from tlstudio.core.data.modality import task_default_model
from tlstudio.core.project import Project

# The demo data is Fashion-MNIST at 28 px: a small input keeps training quick on a CPU.
DEMO_IMAGE_SIZE = 112
TEXT_DEMO_FILE = "wordnet_definitions.csv"


def demo_project() -> Project:
    """The bundled image demo dataset with the default (bundled) model."""
    from tlstudio.core import paths

    project = Project(name="Demo — Fashion-MNIST")
    project.data.path = str(paths.demo_data_dir())
    project.model.image_size = DEMO_IMAGE_SIZE
    project.training.epochs = 5
    return project


def demo_text_data() -> Path:
    from tlstudio.core import paths

    return paths.resources_dir() / "demo_text_data" / TEXT_DEMO_FILE


def text_demo_project() -> Project:
    """The bundled text demo (WordNet definitions in six topics) with the bundled MiniLM encoder."""
    project = new_project("text")
    project.name = "Demo — WordNet definitions"
    project.data.path = str(demo_text_data())
    project.training.epochs = 20
    return project


# The demo project per modality (the start page's "Try the demo" buttons).
DEMOS = {"image": demo_project, "text": text_demo_project}


def new_project(task: str = "image") -> Project:
    """An empty project for ``task``, with that task's default model."""
    project = Project(task=task)
    default = task_default_model(task, project.model.name)
    if default != project.model.name:
        project.choose_model(default)
    return project
