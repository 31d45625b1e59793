"""tlstudio-cli's commands on a trained run: evaluate, predict, export.

An unfinished run (interrupted, stopped or failed) is said in one line on
stderr before its best weights so far are used, and an exported bundle says so.
"""
from __future__ import annotations

import sys

from tlstudio.cli.models import print_json
from tlstudio.cli.predict_folder import folder_request, imagenet_model, predict_folder_command
from tlstudio.cli.text_predict import predict_text_command, prediction_text
from tlstudio.core.data.modality import modality_for
from tlstudio.core.device import resolve_device
from tlstudio.core.errors import DatasetError
from tlstudio.core.runs.metric_names import metrics_line

EXIT_BAD_INPUT = 2



# -- evaluate / predict / export ------------------------------------------------------------

def cmd_evaluate(args) -> int:
    from tlstudio.cli.progress import TerminalProgress
    from tlstudio.core.runs.evaluate import evaluate_run
    from tlstudio.core.runs.folder import load_model

    loaded = load_model(args.run_dir, device=resolve_device(args.device))
    warn_if_unfinished(args.run_dir)
    bar = TerminalProgress(quiet=args.quiet)
    try:
        job = None if args.data_dir is None else bar.scan_job()
        result = evaluate_run(loaded, args.run_dir, args.data_dir, split=args.split, batch_size=args.batch_size,
                              top_k=args.top_k, job=job)
    finally:
        bar.close()
    if args.json:
        print_json(result)
        return 0
    from tlstudio.core.data.index import printable

    classes = [printable(c) for c in result["classes"]]
    noun = modality_for(loaded.task).noun
    if "per_label" in result:        # a multi-label model
        print_label_set_metrics(result, noun)
        return 0
    print(f"Evaluated on {result['samples']} {noun} ({result['source']})")
    print(metrics_line(result, noun))
    width = max(len(c) for c in classes)
    print(f"{'class':<{width}}  precision  recall     f1  support")
    for name, m in result["per_class"].items():
        name = printable(name)
        print(f"{name:<{width}}  {m['precision']:9.3f}  {m['recall']:6.3f}  {m['f1']:5.3f}  {m['support']:7d}")
    print("Confusion matrix (rows: true, columns: predicted):")
    for name, row in zip(classes, result["confusion_matrix"]):
        print(f"{name:<{width}}  " + " ".join(f"{v:5d}" for v in row))
    if result["skipped"]:
        print(f"Skipped {len(result['skipped'])} unreadable {noun}.")
    return 0


def print_label_set_metrics(result: dict, noun: str) -> None:
    """A multi-label evaluation: the summary line and a per-label table with each label's threshold."""
    from tlstudio.core.data.index import printable

    print(f"Evaluated on {result['samples']} {noun} ({result['source']})")
    print(f"Micro F1 {result['micro_f1']:.3f} · macro F1 {result['macro_f1']:.3f} · mAP {result['mean_ap']:.3f} · "
          f"subset accuracy {result['subset_accuracy']:.1%} · Hamming loss {result['hamming_loss']:.3f}")
    names = {name: printable(name) for name in result["per_label"]}
    width = max(5, *(len(n) for n in names.values()))
    print(f"{'label':<{width}}  threshold  precision  recall     f1     AP  support")
    for name, m in result["per_label"].items():
        ap = f"{m['ap']:6.3f}" if m["ap"] is not None else "     -"
        print(f"{names[name]:<{width}}  {m['threshold']:9.3f}  {m['precision']:9.3f}  {m['recall']:6.3f}  "
              f"{m['f1']:5.3f} {ap}  {m['support']:7d}")
    if result["skipped"]:
        print(f"Skipped {len(result['skipped'])} unreadable {noun}.")


def cmd_predict(args) -> int:
    from tlstudio.core.runs.predict import predict_images, predict_imagenet
    from tlstudio.core.runs.folder import load_model

    if args.run_dir != "imagenet":
        loaded = load_model(args.run_dir, device=resolve_device(args.device))
        warn_if_unfinished(args.run_dir)
        if folder_request(args):
            return predict_folder_command(args, loaded)
        if loaded.task == "text":
            return predict_text_command(args, loaded)
    if folder_request(args):
        return predict_folder_command(args, imagenet_model())
    if args.text or args.file:
        raise DatasetError("This model classifies images; --text and --file are for text models.")
    if not args.images:
        raise DatasetError("No images to classify; give one or more IMAGE paths.")
    if args.run_dir == "imagenet":
        results = predict_imagenet(args.images, top_k=args.top_k)
    else:
        results = predict_images(loaded, args.images, top_k=args.top_k)
    if args.json:
        print_json(results)
    else:
        for r in results:
            if "error" in r:
                print(f"{r['path']}: ERROR {r['error']}")
            else:
                print(f"{r['path']}: {prediction_text(r)}")
    if results and all("error" in r for r in results):
        print(f"error: none of the {len(results)} image(s) could be read.", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def warn_if_unfinished(run_dir) -> str | None:
    """One line on stderr when ``run_dir`` holds an unfinished run: its weights are the best epoch so far."""
    from tlstudio.core.runs.run_folder import RunFolder

    unfinished = RunFolder(run_dir).interruption()
    if unfinished:
        print(f"warning: {run_dir}: {unfinished}; these are its best weights so far "
              "(finish it with train ... --resume).", file=sys.stderr)
    return unfinished


def cmd_export(args) -> int:
    from tlstudio.core.runs import export
    from tlstudio.core.runs.export_documents import document_paths
    from tlstudio.core.runs.export_report import format_report
    from tlstudio.core.runs.folder import read_json

    unfinished = warn_if_unfinished(args.run_dir)

    if args.format == "bundle":
        path = export.export_bundle(args.run_dir, args.out, torchscript=args.with_torchscript,
                                    onnx=args.with_onnx, force=args.force, precision=args.precision)
        print(f"Bundle written to {path}" + (f" (marked: {unfinished})" if unfinished else ""))
        print("\n".join(format_report(read_json(document_paths(path, bundle=True)[0], {}))))
        return 0
    fn = export.export_torchscript if args.format == "torchscript" else export.export_onnx
    result = fn(args.run_dir, args.out, sample_paths=args.samples or None, force=args.force, precision=args.precision)
    print(f"{args.format} export written to {result['path']} "
          f"(max |diff| vs PyTorch {result['max_abs_diff']:.2e} on {result['samples']} {result['inputs']} inputs)")
    print("\n".join(format_report(result["report"])))
    print(f"Report: {result['report']['report_file']}; model card: {result['report']['card_file']}")
    return 0
