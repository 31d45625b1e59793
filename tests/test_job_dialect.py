"""One cancel / progress dialect in the core: a long job takes ``job: JobState | None``.

An AST walk over every ``tlstudio/core`` file. A public function or method (its name has no
leading underscore) may not take

- ``task`` annotated with a job state (``task`` means the modality: "image" or "text"),
- ``token`` or ``check`` (the old ways to pass a cancel: a token object, a bare callable),
- a job state under any name but ``job``,
- a task-type object (``SingleLabelTask`` / ``MultiLabelTask``) under any name but ``kind``.

``progress.check(job)`` and ``progress.set_progress(job, ...)`` are the helpers a job calls.
"""
import ast
from pathlib import Path

import tlstudio
from tlstudio.core import progress

CORE = Path(tlstudio.__file__).parent / "core"
# (module path under core, function, parameter) -> why it must stay. Keep it tiny.
ALLOWED: dict[tuple[str, str, str], str] = {}

JOB_TYPES = ("JobState", "TaskState", "_CandidateJob")
KIND_TYPES = ("SingleLabelTask", "MultiLabelTask")


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    a = fn.args
    return a.posonlyargs + a.args + a.kwonlyargs


def dialect_violations(root: Path = CORE) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.startswith("_"):
                continue
            for arg in _params(node):
                ann = ast.unparse(arg.annotation) if arg.annotation is not None else ""
                problem = None
                if arg.arg in ("token", "check"):
                    problem = f"takes {arg.arg!r}: pass job: JobState | None instead"
                elif any(t in ann for t in JOB_TYPES) and arg.arg != "job":
                    problem = f"takes a job state as {arg.arg!r}: name it job"
                elif any(t in ann for t in KIND_TYPES) and arg.arg != "kind":
                    problem = f"takes a task-type object as {arg.arg!r}: name it kind"
                if problem and (rel, node.name, arg.arg) not in ALLOWED:
                    found.append(f"core/{rel}:{node.lineno} {node.name}() {problem}")
    return found


def test_the_check_sees_each_old_dialect(tmp_path):
    (tmp_path / "m.py").write_text(
        "def scan(path, *, task: JobState | None = None): ...\n"
        "def run(self, token=None): ...\n"
        "def fit(x, check=None): ...\n"
        "def search(x, task: SingleLabelTask | None = None): ...\n"
        "def _private(check): ...\n"
        "def fine(path, *, job: JobState | None = None, task: str = 'image', kind=None): ...\n")
    assert dialect_violations(tmp_path) == [
        "core/m.py:1 scan() takes a job state as 'task': name it job",
        "core/m.py:2 run() takes 'token': pass job: JobState | None instead",
        "core/m.py:3 fit() takes 'check': pass job: JobState | None instead",
        "core/m.py:4 search() takes a task-type object as 'task': name it kind"]


def test_the_core_speaks_one_dialect():
    assert dialect_violations() == []
    assert not hasattr(progress, "TaskState")        # renamed, no alias left behind
