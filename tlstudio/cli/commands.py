"""tlstudio-cli: the TL Studio core, headless.

Subcommands: models, scan, train, evaluate, predict, export, explain (cli/explain.py), audit
(cli/audit.py), curves (cli/curves.py), suggest (cli/suggest.py), zeroshot (cli/zeroshot.py), compare
(cli/compare.py); each works for
image and text projects (a text run is detected from its data or model.json). Bad input ends
with one readable line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Sequence

from tlstudio.cli.data_options import ENCODING_HELP, add_data_options, apply_data_options, detected_task
from tlstudio.cli.models import cmd_models, print_json
from tlstudio.cli.run_commands import EXIT_BAD_INPUT, cmd_evaluate, cmd_export, cmd_predict
from tlstudio.cli.text_predict import add_column_options, column_value
from tlstudio.core.data.curation import apply_curation
from tlstudio.core.data.index import require_labels
from tlstudio.core.data.modality import modality_for, task_default_model
from tlstudio.core.device import DEVICE_CHOICES, resolve_device
from tlstudio.core.errors import DatasetError, ProjectError, TLStudioError, TrainingError, WeightsError
from tlstudio.core.runs.metric_names import accuracy_text, metrics_line

EXIT_INTERRUPTED = 130


# -- scan ----------------------------------------------------------------------------

def cmd_scan(args) -> int:
    from types import SimpleNamespace

    from tlstudio.cli.progress import TerminalProgress
    from tlstudio.core.data.index import format_report
    from tlstudio.core.data.modality import scan
    from tlstudio.core.data.text import TextDatasetIndex, format_text_report

    # Columns are chosen only in a text table; otherwise --task, or what the data is.
    kind = args.task or ("text" if args.text_column or args.label_column else
                         detected_task(args.data_dir, args.encoding))
    data = SimpleNamespace(text_column=column_value(args.text_column), label_column=column_value(args.label_column),
                           encoding=args.encoding, task_type=args.task_type,
                           unlabeled_folder=args.unlabeled_folder)
    bar = TerminalProgress(quiet=args.quiet)
    try:
        index = scan(args.data_dir, kind, data=data, job=bar.scan_job())
    finally:
        bar.close()
    if args.json:
        print_json(index.to_report())
    else:
        print(format_text_report(index) if isinstance(index, TextDatasetIndex) else format_report(index))
    return 0


# -- train ---------------------------------------------------------------------------

def build_project(args):
    """The Project to run: from --project (options given override it) or from the options."""
    from tlstudio.core.project import Project

    project = Project.load(args.project) if args.project else Project(name="CLI run")
    if args.data_dir is not None:
        project.data.path = str(Path(args.data_dir).absolute())
    if not project.data.path:
        raise DatasetError("No dataset given; pass DATA_DIR or a project file whose data.path is set.")
    if args.encoding is not None:
        project.data.encoding = args.encoding or None
    apply_data_options(args, project.data)
    if args.task is not None:
        project.task = args.task
    elif getattr(args, "text_column", None) or getattr(args, "label_column", None):
        project.task = "text"               # columns are chosen only in a text table
    elif not args.project:                  # a project file says its task; plain data is detected
        project.task = detected_task(project.data.path, project.data.encoding)
    if args.model is None:
        project.model.name = task_default_model(project.task, project.model.name)
    overrides = [("model", "name", args.model), ("model", "weights", args.weights),
                 ("model", "image_size", args.image_size), ("model", "max_length", args.max_length),
                 ("data", "text_column", args.text_column), ("data", "label_column", args.label_column),
                 ("data", "augment", args.augment),
                 ("data", "val_fraction", args.val_split), ("data", "test_fraction", args.test_split),
                 ("data", "seed", args.seed), ("training", "seed", args.seed),
                 ("training", "epochs", args.epochs), ("training", "batch_size", args.batch_size),
                 ("training", "lr", args.lr), ("training", "device", args.device),
                 ("finetune", "unfreeze_last", args.unfreeze_last)]
    for section, key, value in overrides:
        if value is not None:
            setattr(getattr(project, section), key, value)
            if section == "training":      # an explicit value: the head search keeps it
                project.training.set_explicit(key)
    if args.weight_decay is not None:
        project.training.weight_decay = args.weight_decay
        project.training.set_explicit("weight_decay")
    if getattr(args, "few_shot", None) is not None:
        project.training.few_shot = args.few_shot
    if args.no_search:
        project.training.head_fit = "epochs"
    if args.keep_val:
        project.training.refit = False
    if args.finetune_epochs is not None:
        project.finetune.enabled = args.finetune_epochs > 0
        project.finetune.epochs = args.finetune_epochs
    if args.no_cache:
        project.training.use_cache = False
    if args.train_batchnorm:
        project.finetune.train_batchnorm = True
    return project


def _validate_text(project, job=None, labels=None):
    from tlstudio.core.data.modality import modality_for, scan

    project.validate(labels)
    if project.data.augment != "none":
        raise ProjectError(f"Text projects have no augmentation; --augment {project.data.augment} applies to images.")
    resolve_device(project.training.device)
    modality = modality_for("text")
    if project.model.weights.is_file:
        raise WeightsError("A text model's weights come from its Hugging Face folder; pass the folder as "
                           "--model instead of --weights FILE.")
    card = modality.model_card(project.model)          # unknown name / not a model folder -> error
    modality.preprocessing(card, project.model)        # max length out of range, model not here -> error
    index = apply_curation(scan(project.data.path, "text", job=job, data=project.data), project.data)
    require_labels(index, modality.noun)
    project.adopt_classes(index.classes)
    return index


# The option each checked setting is given by: a bad value is named as the user typed it.
OPTION_OF = {"data.val_fraction": ("--val-split", "val_split"), "data.test_fraction": ("--test-split", "test_split"),
             "data.seed": ("--seed", "seed"), "training.seed": ("--seed", "seed"),
             "model.image_size": ("--image-size", "image_size"), "data.augment": ("--augment", "augment"),
             "training.epochs": ("--epochs", "epochs"), "training.batch_size": ("--batch-size", "batch_size"),
             "training.lr": ("--lr", "lr"), "finetune.epochs": ("--finetune-epochs", "finetune_epochs"),
             "finetune.unfreeze_last": ("--unfreeze-last", "unfreeze_last")}


def _option_labels(args) -> dict[str, str]:
    return {setting: flag for setting, (flag, dest) in OPTION_OF.items() if getattr(args, dest, None) is not None}


def validate_for_training(project, job=None, labels: dict[str, str] | None = None):
    """Everything that can be checked before a run folder is created; returns the dataset index."""
    if project.task == "text":
        return _validate_text(project, job, labels)
    from tlstudio.core.data.modality import scan
    from tlstudio.core.zoo.cards import get_card
    from tlstudio.core.zoo.weights import load_weights_file

    project.validate(labels)
    resolve_device(project.training.device)                   # CUDA asked for but absent -> TrainingError
    get_card(project.model.name)                       # unknown model -> ModelError
    weights = project.model.weights
    if weights.is_file:
        if not Path(weights.path).is_file():
            raise WeightsError(f"Weights file not found: {weights.path}.")
        load_weights_file(weights.path)                # unreadable -> WeightsError
    index = apply_curation(scan(project.data.path, project.task, job=job, data=project.data), project.data)
    require_labels(index, "images")
    project.adopt_classes(index.classes)
    return index


def _default_run_dir(args, project) -> Path:
    from tlstudio.core.runs.folder import new_run_dir

    base = Path(args.project).absolute().parent if args.project else Path.cwd()
    return new_run_dir(project.name, base / "runs")


def _print_split_warnings(project, index) -> None:
    """What the split will lack (a class too small to validate, a tiny validation set, case twins)."""
    from tlstudio.core.data.index import split_dataset

    d = project.data
    for warning in split_dataset(index, d.val_fraction, d.test_fraction, seed=d.seed).warnings:
        print(f"warning: {warning}", file=sys.stderr)


def cmd_train(args) -> int:
    from tlstudio.cli.progress import TerminalProgress

    if args.project is None and args.data_dir is None:
        raise DatasetError("Give a DATA_DIR or --project FILE.json to train.")
    if args.project is None and args.out is None:
        raise ProjectError("Give --out RUN_DIR: the folder the run is written to.")
    from tlstudio.core.runs.run_folder import RunFolder

    from tlstudio.cli import distributed_launch

    project = build_project(args)
    launch = distributed_launch.prepare(args, project, lambda: _default_run_dir(args, project))   # torchrun
    if launch is not None:
        project, run_dir, resume = launch.project, launch.run_dir, launch.resume
    else:
        run_dir, resume = (Path(args.out).absolute() if args.out else _default_run_dir(args, project)), bool(args.resume)
        # At once, before the (slow) scan: a folder another training writes to, someone else's files,
        # a finished run. The trainer checks again under the folder's lock.
        RunFolder(run_dir).check_target(resume)
    bar = TerminalProgress(quiet=args.quiet or (launch is not None and not launch.dist.is_main))
    try:
        index = validate_for_training(project, job=bar.scan_job(), labels=_option_labels(args))
    finally:
        bar.close()
    if launch is None or launch.dist.is_main:
        _print_split_warnings(project, index)
    noun = modality_for(project.task).noun
    bar.rate_unit = f"{noun if noun == 'texts' else 'img'}/s"
    bar.line(f"Training {project.model.name} on {len(index.samples)} {noun} of "
             f"{len(index.classes)} classes -> {run_dir}")
    if launch is not None:
        again = f" (restart {launch.restart}, resuming from its last checkpoint)" if launch.restart and resume else ""
        bar.line(f"torchrun: {launch.dist.world_size} processes{again}")

    from tlstudio.core.events import RunFailed
    from tlstudio.core.progress import JobState
    from tlstudio.core.train.trainer import Trainer

    job = JobState()
    failures: list[str] = []

    def on_event(event) -> None:
        if isinstance(event, RunFailed):
            failures.append(event.message)
        bar(event)

    def on_signal(signum, frame):
        # First Ctrl-C (or SIGTERM): stop after the current batch, save, mark the run cancelled.
        if job.is_cancelled:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return      # a repeated SIGTERM: the run is already stopping and saving
        what = "Ctrl-C again to abort" if signum == signal.SIGINT else "saving the run"
        bar.line(f"Stopping after the current batch ({what})...")
        job.cancel()

    # Signal handlers can only be installed from the main thread (main() may run elsewhere in tests).
    # Under torchrun, torchrun handles Ctrl-C and SIGTERM for all ranks together (the run resumes with --resume).
    in_main = threading.current_thread() is threading.main_thread() and launch is None
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, on_signal) for sig in handled} if in_main else {}
    try:
        metrics = Trainer(project, run_dir, on_event, job=job, resume=resume, dataset=index).run()
    finally:
        if launch is not None:
            from tlstudio.core.train.distributed import shutdown
            shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        bar.close()
    if failures:
        raise TrainingError(failures[-1])
    if args.json:
        print_json(metrics)
    else:
        acc = metrics.get("val_accuracy")
        print(f"Run folder: {run_dir}")
        if metrics.get("cancelled"):
            stopped = RunFolder(run_dir).interruption() or "run stopped"
            print(f"The {stopped}; continue it with the same command and --resume.")
        labels = metrics.get("multilabel")
        if isinstance(labels, dict):      # a multi-label run: F1 and mAP at its per-label thresholds
            print(f"Micro F1 {labels['micro_f1']:.3f} · macro F1 {labels['macro_f1']:.3f} · "
                  f"mAP {labels['mean_ap']:.3f} ({metrics.get('thresholds_chosen_on')}, per-label thresholds "
                  "chosen there)")
            if isinstance(metrics.get("test_micro_f1"), (int, float)):
                print(f"Test split: micro F1 {metrics['test_micro_f1']:.3f} · macro F1 "
                      f"{metrics['test_macro_f1']:.3f} · mAP {metrics['test_mean_ap']:.3f}")
        elif isinstance(acc, (int, float)):
            print(f"Accuracy: {accuracy_text(acc, metrics.get('accuracy_source') or 'validation split')}")
        if isinstance(metrics.get("test_accuracy"), (int, float)):
            print(f"Accuracy: {accuracy_text(metrics['test_accuracy'], 'test split')}")
    return EXIT_INTERRUPTED if metrics.get("cancelled") else 0


# -- parser ------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tlstudio-cli", description="TL Studio: transfer learning on images and text, headless.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="list the model catalog and where each model's weights come from")
    p.add_argument("--search", help="match names and families")
    p.add_argument("--family", help="only this family, e.g. ResNet")
    p.add_argument("--task", choices=("image", "text"), default="image", help="image (default) or text models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("scan", help="check a dataset (folder, CSV/TSV/TXT table, JSON Lines) and count its samples")
    p.add_argument("data_dir", metavar="DATA_DIR")
    add_data_options(p, "DATA_DIR")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_column_options(p)
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("train", help="train a new head (and optionally fine-tune) on a dataset")
    p.add_argument("data_dir", metavar="DATA_DIR", nargs="?")
    p.add_argument("--project", metavar="FILE.json", help="run a saved project; other options override it")
    p.add_argument("--out", metavar="RUN_DIR", help="folder to write the run to")
    add_data_options(p, "DATA_DIR")
    p.add_argument("--model", metavar="NAME|FOLDER",
                   help="catalog or timm model name (default: the bundled EfficientNet-Lite0); for text a text "
                        "model name or a Hugging Face model folder (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--max-length", type=int, metavar="N", help="text: tokens per text (longer texts are cut)")
    add_column_options(p, numbers=False)
    p.add_argument("--weights", metavar="SOURCE_OR_FILE", help="auto, none, download, or a weights file")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--no-search", action="store_true",
                   help="train the head with the plain epoch loop instead of the automatic head search")
    p.add_argument("--few-shot", choices=("auto", "contrastive", "off"),
                   help="text, few labels: tune the encoder contrastively on the labelled pairs before the head "
                        "(auto: when the median class has <= 32 training labels and the model is a sentence encoder)")
    p.add_argument("--keep-val", action="store_true",
                   help="after the head search, train the final head on the train split only")
    p.add_argument("--image-size", type=int, metavar="PX")
    p.add_argument("--augment", choices=("none", "light", "strong"))
    p.add_argument("--finetune-epochs", type=int, metavar="N", help="fine-tune the top blocks for N epochs")
    p.add_argument("--unfreeze-last", type=int, metavar="K", help="blocks to unfreeze when fine-tuning")
    p.add_argument("--train-batchnorm", action="store_true",
                   help="let unfrozen BatchNorm layers update their running statistics while fine-tuning")
    p.add_argument("--val-split", type=float, metavar="F")
    p.add_argument("--test-split", type=float, metavar="F")
    p.add_argument("--device", choices=DEVICE_CHOICES)
    p.add_argument("--seed", type=int)
    p.add_argument("--no-cache", action="store_true", help="do not use the feature cache")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in RUN_DIR")
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="accuracy, per-class metrics and confusion matrix of a run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("data_dir", metavar="DATA_DIR", nargs="?", help="labelled folder (default: the run's split)")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", choices=DEVICE_CHOICES, default="cpu")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify images or texts with a run or bundle ('imagenet' for the "
                                       "bundled image model)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("images", metavar="IMAGE", nargs="*", help="image files, or one FOLDER: every image (text run: "
                                                               ".txt file and CSV/TSV/JSONL row) below it")
    p.add_argument("--out", metavar="FILE", help="FOLDER: the prediction file, appended to when re-run "
                                                 "(default: predictions.csv or .jsonl)")
    p.add_argument("--format", choices=("csv", "jsonl"), help="FOLDER: the file's format (default: from --out)")
    p.add_argument("--quiet", "-q", action="store_true", help="FOLDER: no progress bar")
    p.add_argument("--text", action="append", metavar="TEXT", help="a text to classify (repeatable)")
    p.add_argument("--file", action="append", metavar="FILE",
                   help="a text file: one text per line, or a CSV/TSV/JSONL whose text column is read")
    add_column_options(p, label=False)
    p.add_argument("--encoding", metavar="NAME", help="--file: " + ENCODING_HELP)
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--device", choices=DEVICE_CHOICES, default="cpu")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="export a run as a bundle, TorchScript or ONNX")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", choices=("bundle", "torchscript", "onnx"), required=True)
    p.add_argument("--out", metavar="PATH", required=True)
    p.add_argument("--with-torchscript", action="store_true", help="bundle: also embed a TorchScript file")
    p.add_argument("--with-onnx", action="store_true", help="bundle: also embed an ONNX file")
    p.add_argument("--precision", default="fp32", metavar="fp32|fp16|int8",
                   help="ONNX (also a bundle's --with-onnx): fp16 halves the file; int8 quantizes it "
                        "(static, calibrated on training images; dynamic for text models). Default fp32")
    p.add_argument("--samples", nargs="*", metavar="IMAGE|TEXT",
                   help="images (or, for a text run, texts) for the parity check")
    p.add_argument("--force", action="store_true",
                   help="replace an earlier export at --out (only that export's own files)")
    p.set_defaults(func=cmd_export)

    from tlstudio.cli.audit import add_audit_parser
    from tlstudio.cli.compare import add_compare_parser
    from tlstudio.cli.curves import add_curves_parser
    from tlstudio.cli.explain import add_explain_parser
    from tlstudio.cli.suggest import add_suggest_parser
    from tlstudio.cli.zeroshot import add_zeroshot_parser

    add_explain_parser(sub)
    add_audit_parser(sub)
    add_curves_parser(sub)
    add_suggest_parser(sub)
    add_zeroshot_parser(sub)
    add_compare_parser(sub)
    return parser


def log_unexpected(exc: BaseException) -> Path | None:
    """Append ``exc``'s traceback to the app's log file; its path, or None when the log cannot be written."""
    import logging
    import traceback

    from tlstudio.core.paths import log_file

    try:
        path = log_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger("tlstudio.cli")
        logger.addHandler(handler)
        try:
            logger.error("Unexpected error in tlstudio-cli %s\n%s", " ".join(sys.argv[1:]), text.rstrip())
        finally:
            logger.removeHandler(handler)
            handler.close()
        return path
    except Exception:  # noqa: BLE001 - a log that cannot be written must not hide the error itself
        return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TLStudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # disk full, permission denied, ...
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001 - the last guard: one line, a log
        path = log_unexpected(exc)
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        where = f"; the details are in {path}" if path else ""
        print(f"error: unexpected {type(exc).__name__}: {first}{where}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
