"""How long the GUI event loop stalls during and just after a real training run.

A 10 ms heartbeat QTimer runs in the offscreen main window while the demo
project trains (charts visible on the Train tab); when the run ends the
Results tab is shown, as a user would, until its evaluation and confusion
matrix are drawn. A stall is how much later than 10 ms a beat arrived.
Prints p50 / p99 / max over the run and over the end (from the last epoch to
the results drawn), plus the worst beats.

With ``--why`` a sampler thread records the GUI thread's Python stack every
5 ms, and each stall over 50 ms is printed with the frames it spent most of
its samples in (where the GUI thread was stuck).

With ``--search`` the run is the default one: the head fitted by the automatic search on cached
features, its candidates' curves drawn live; a "search" line gives the stalls from the search's
first event to its last.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui_stalls.py [--epochs 4] [--image-size 96] [--why] [--start-early]
    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui_stalls.py --search [--text]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(name: str, stalls: list[float]) -> str:
    return (f"{name:<5} beats {len(stalls):5d}  p50 {percentile(stalls, 50):6.1f} ms  "
            f"p99 {percentile(stalls, 99):6.1f} ms  max {max(stalls, default=0):6.1f} ms  "
            f"over 50 ms: {sum(s > 50 for s in stalls)}")


class StackSampler(threading.Thread):
    """Samples the main thread's Python stack every few milliseconds: (time ms, frames)."""

    def __init__(self, clock_ms, interval_s: float = 0.005):
        super().__init__(daemon=True)
        self.clock_ms, self.interval_s = clock_ms, interval_s
        self.main_id = threading.main_thread().ident
        self.samples: list[tuple[float, tuple[str, ...]]] = []
        self.running = True

    def run(self) -> None:
        while self.running:
            frame = sys._current_frames().get(self.main_id)
            stack = []
            while frame is not None and len(stack) < 40:
                code = frame.f_code
                stack.append(f"{Path(code.co_filename).name}:{frame.f_lineno} {code.co_name}")
                frame = frame.f_back
            self.samples.append((self.clock_ms(), tuple(stack)))
            time.sleep(self.interval_s)

    def explain(self, start_ms: float, end_ms: float) -> str:
        """The innermost project frames the GUI thread sat in between two times, most frequent first."""
        counts: Counter = Counter()
        for t, stack in self.samples:
            if start_ms <= t <= end_ms and stack:
                ours = [f for f in stack if "site-packages" not in f][:3] or list(stack[:3])
                counts[" < ".join(ours)] += 1
        return "; ".join(f"{n}x {where}" for where, n in counts.most_common(3)) or "(no Python frames: Qt/C++)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--why", action="store_true", help="sample the GUI thread's stack to explain stalls")
    parser.add_argument("--explain-over", type=float, default=50.0, help="with --why: explain stalls over this (ms)")
    parser.add_argument("--start-early", action="store_true",
                        help="press Start 1.5 s after the window shows, before the trainer's start-up import ends "
                             "(default: wait for it, as a user who looks at the window first)")
    parser.add_argument("--no-preload", action="store_true",
                        help="do not import torch/torchvision/timm before the window as the app's splash does "
                             "(they then load in the trainer's start-up import, holding the GIL for long stretches)")
    parser.add_argument("--min-seconds", type=float, default=10.0, help="fail unless the run lasts this long")
    parser.add_argument("--search", action="store_true",
                        help="the default run: automatic head search on cached features (curves drawn live)")
    parser.add_argument("--text", action="store_true", help="with --search: the text demo instead of the images")
    args = parser.parse_args()
    os.environ.setdefault("TLSTUDIO_DATA_DIR", tempfile.mkdtemp(prefix="tlstudio-bench-"))

    from PySide6.QtCore import QElapsedTimer, QTimer

    from tlstudio.gui.app import build_main_window, ensure_application

    app = ensure_application([])
    if not args.no_preload:          # as the app's main() does under its splash
        from tlstudio.gui.splash import preload_libraries
        preload_libraries()
    window = build_main_window(demo=not args.text, text_demo=args.text)
    window.resize(1280, 800)
    window.show()
    p = window.state.project
    if args.search:
        p.training.head_fit, p.training.use_cache = "search", True
        if not args.text:
            p.model.image_size = args.image_size
    else:
        p.model.image_size = args.image_size
        p.training.epochs = args.epochs
        p.training.use_cache = False      # the base runs every epoch: a run of useful length on the demo data
    window.tabs.setCurrentWidget(window.training_panel)

    clock = QElapsedTimer()
    clock.start()
    beats: list[tuple[float, float]] = []          # (time ms, stall ms)
    last = [clock.elapsed()]
    marks: dict[str, float] = {}

    sampler = StackSampler(lambda: clock.nsecsElapsed() / 1e6) if args.why else None
    if sampler is not None:
        sampler.start()

    def beat():
        now = clock.nsecsElapsed() / 1e6
        beats.append((now, max(0.0, now - last[0] - 10.0)))
        last[0] = now

    last[0] = clock.nsecsElapsed() / 1e6
    heart = QTimer()
    heart.setInterval(10)
    heart.timeout.connect(beat)

    panel, results = window.training_panel, window.results_panel

    def on_event(event):
        from tlstudio.core import events as ev
        if isinstance(event, ev.EpochEnded) and event.epoch == args.epochs:
            marks["last_epoch"] = clock.nsecsElapsed() / 1e6
        if isinstance(event, ev.HeadSearchStarted):
            marks["search_start"] = clock.nsecsElapsed() / 1e6
        if isinstance(event, ev.HeadSearchFinished):
            marks["last_epoch"] = marks["search_end"] = clock.nsecsElapsed() / 1e6

    def poll():
        if "start" not in marks:
            return
        if "end" not in marks and not panel.is_running():
            marks["end"] = clock.nsecsElapsed() / 1e6
            window.tabs.setCurrentWidget(results)          # the user looks at the results
            QTimer.singleShot(15_000, app.quit)            # results that never load still end the benchmark
        if "end" in marks and "results" not in marks and results.loaded is not None \
                and results.result is not None and results.confusion.renders > 0 \
                and not results.confusion.busy():
            marks["results"] = clock.nsecsElapsed() / 1e6
            QTimer.singleShot(1000, app.quit)              # one more second of heartbeats

    watcher = QTimer()
    watcher.setInterval(20)
    watcher.timeout.connect(poll)

    def start():
        panel.start()
        worker = getattr(panel, "worker", None)
        if worker is not None:
            worker.event.connect(on_event)
        marks["start"] = clock.nsecsElapsed() / 1e6

    # Let start-up work settle (the trainer's import in a worker, unless --start-early), then run.
    def begin():
        preload = panel.preload_task
        loading = args.text and (window.state.dataset is None or window.model_panel.is_loading())
        if loading or not args.start_early and preload is not None and preload.is_running():
            QTimer.singleShot(100, begin)
            return
        last[0] = clock.nsecsElapsed() / 1e6       # the first beat counts from here, not from the window's start-up
        heart.start(), watcher.start(), start()

    QTimer.singleShot(1500, begin)
    QTimer.singleShot(600_000, app.quit)
    app.exec()
    heart.stop()

    if "end" not in marks:
        print("the run did not end", file=sys.stderr)
        return 1
    seconds = (marks["end"] - marks["start"]) / 1000
    run_stalls = [s for t, s in beats if marks["start"] <= t <= marks["end"]]
    end_from = marks.get("last_epoch", marks["end"])
    end_stalls = [s for t, s in beats if t >= end_from]
    what = (f"automatic head search, {'text demo' if args.text else f'image demo at {args.image_size} px'}, "
            f"cached features" if args.search else
            f"{args.epochs} epochs at {args.image_size} px, demo data, no feature cache")
    print(f"run: {seconds:.1f} s ({what}, "
          f"{'Start before' if args.start_early else 'Start after'} the trainer's start-up import); "
          f"results drawn {((marks.get('results', marks['end']) - marks['end']) / 1000):.2f} s after the end")
    print(summary("run", run_stalls))
    if "search_start" in marks and "search_end" in marks:
        search_stalls = [s for t, s in beats if marks["search_start"] <= t <= marks["search_end"]]
        chart = panel.charts.loss
        print(summary("search", search_stalls) + f"  ({(marks['search_end'] - marks['search_start']) / 1000:.1f} s, "
              f"{chart.renders} loss-chart renders)")
    print(summary("end", end_stalls))
    print(summary("all", [s for t, s in beats if t >= marks["start"]]))
    worst = sorted(((s, t) for t, s in beats if t >= marks["start"]), reverse=True)[:8]
    print("worst beats (stall ms @ s from the end): " +
          ", ".join(f"{s:.0f} @ {(t - marks['end']) / 1000:+.2f}" for s, t in worst))
    if sampler is not None:
        sampler.running = False
        for t, s in beats:
            if s > args.explain_over and t >= marks["start"]:
                print(f"  stall {s:.0f} ms @ {(t - marks['end']) / 1000:+.2f} s: {sampler.explain(t - s - 10, t)}")
    if seconds < args.min_seconds:
        print(f"warning: the run lasted {seconds:.1f} s, under {args.min_seconds} s; raise --epochs", file=sys.stderr)
    print("load:", " ".join(f"{v:.1f}" for v in os.getloadavg()))
    return 0          # no window.close(): it would ask about the unsaved project in a modal dialog


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)       # worker threads still tearing down must not keep the benchmark alive
