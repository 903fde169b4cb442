"""Catalogue throughput: ``semeq batch`` on 1 and 2 local Dask workers against ``semeq apply DIR``.

N files of M minutes (default 48 x 3 min, issue 17; ``--files`` and ``--minutes`` shrink it) of
stereo 44.1 kHz 16-bit noise with a balance of its own each. Measured, on the same files:

- the per-file work: ``semeq.pipeline.apply_file`` on each file, one after the other, in this
  process (models loaded once before the clock starts): the floor any batch engine pays;
- ``semeq batch DIR -o OUT --workers W`` (a subprocess, as a user runs it) for each W, and
  ``semeq apply DIR --workers W`` for each W (``--apply-src`` picks the checkout whose ``apply``
  is timed: another branch's ``src``, e.g. the process pool before issue 17).

Printed, for each run: wall time, throughput in audio hours per hour, the scheduling overhead per
file: ``((wall - fixed) x W - sum of the tasks' times) / N`` as a % of the mean task time (the
tasks' own times from the ledger; ``fixed``: a one-file batch's wall time less its task, i.e.
process start, models, planning, the cluster's start and stop), and the same all in (fixed cost
included) and against the in-process floor; the peak resident memory of each worker process
(sampled every 0.1 s with psutil; for batch also the workers' own ``ru_maxrss`` from the
ledger); how long a rerun that skips everything takes; and ``semeq apply DIR`` on the same files.
Then an estimate for 100,000 tracks on 50 workers from these figures. Another engineer's load
on a shared machine shows as tasks slower than the in-process floor (printed as a ratio).
Four of the files also run on a worker started as Dask starts it (``MALLOC_TRIM_THRESHOLD_=65536``).

Run: ``PYTHONPATH=src python benchmarks/bench_batch.py [--files 48 --minutes 3 --workers 1,2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLE_RATE = 44100
SETTINGS = ["--target", "warm", "--intensity", "0.5"]
HERE_SRC = str(Path(__file__).resolve().parents[1] / "src")
START_ENV = dict(os.environ)
"""The environment the commands run in: a LocalCluster's nanny writes MALLOC_TRIM_THRESHOLD_ into this
process's environment, which would slow every process started after it."""


def make_files(folder: Path, n_files: int, minutes: float) -> list[Path]:
    import soundfile as sf
    from scipy.signal import lfilter

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    n = int(minutes * 60 * SAMPLE_RATE)
    for k in range(n_files):
        rng = np.random.default_rng(k)
        path = folder / f"track{k:03d}.wav"
        with sf.SoundFile(str(path), "w", SAMPLE_RATE, 2, subtype="PCM_16") as f:
            pole, white_mix = 0.5 + 0.45 * rng.random(), 0.2 + 0.6 * rng.random()
            zi = np.zeros((1, 2))
            for start in range(0, n, 1 << 20):  # bounded memory, whatever the length
                w = rng.standard_normal((min(1 << 20, n - start), 2))
                low, zi = lfilter([1 - pole], [1, -pole], w, axis=0, zi=zi)
                f.write(np.clip(0.05 * low / np.sqrt((1 - pole) / (1 + pole)) + 0.05 * white_mix * w, -1, 1))
        files.append(path)
    return files


def in_process_work(files: list[Path], out: Path) -> list[float]:
    """Seconds of apply_file per file, serially in this process (the per-file work)."""
    from semeq.adaptive import SemanticEQ
    from semeq.pipeline import apply_file

    engine = SemanticEQ.load(None)
    request = engine.request("warm", 0.5)
    out.mkdir(parents=True, exist_ok=True)
    times = []
    for f in files:
        t = time.perf_counter()
        apply_file(f, out / f.name, request, engine=engine, force=True, progress=False)
        times.append(time.perf_counter() - t)
    return times


def run_watched(argv: list[str], src: str) -> tuple[float, dict[int, float], subprocess.CompletedProcess]:
    """Run a semeq command; wall seconds and the peak RSS (MB) of each of its child processes."""
    import psutil

    env = dict(START_ENV, PYTHONPATH=src, OMP_NUM_THREADS="1")
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")  # a pipe would fill and stall it
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "semeq.cli", *argv], env=env, stdout=out, stderr=err, text=True)
    peaks: dict[int, float] = {}
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            for child in root.children(recursive=True):
                try:
                    if "resource_tracker" in " ".join(child.cmdline()):
                        continue
                    rss = child.memory_info().rss / 2**20
                except psutil.Error:
                    continue
                peaks[child.pid] = max(peaks.get(child.pid, 0.0), rss)
        except psutil.Error:
            pass
        time.sleep(0.1)
    wall = time.perf_counter() - t
    out.seek(0)
    err.seek(0)
    return wall, peaks, subprocess.CompletedProcess(argv, proc.returncode, out.read(), err.read())


def cluster_start_s(workers: int) -> float:
    """Seconds to start and stop a LocalCluster of ``workers`` processes (part of every batch's wall time)."""
    import logging

    from distributed import Client, LocalCluster

    t = time.perf_counter()
    try:
        with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None,
                          silence_logs=logging.ERROR) as c, Client(c) as client:
            client.submit(int, 1).result()
    finally:
        os.environ.clear()
        os.environ.update(START_ENV)
    return time.perf_counter() - t


def trim_effect(files: list[Path], out: Path) -> tuple[float, float]:
    """Seconds of process_one on ``files`` on a worker started as Dask starts it (MALLOC_TRIM_THRESHOLD_
    =65536) and on one started as semeq.batch starts it (without)."""
    import logging

    from distributed import Client, LocalCluster

    from semeq.adaptive import SemanticEQ
    from semeq.batch import BatchSettings, find_inputs, plan_batch, process_one, run_batch

    settings = BatchSettings(request=SemanticEQ.load(None).request("warm", 0.5))
    out.mkdir(parents=True, exist_ok=True)
    try:
        with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR) as c, \
                Client(c) as client:
            futures = [client.submit(process_one, str(f), str(out / f.name), settings, pure=False) for f in files]
            dask_default = sum(f.result()["seconds"] for f in futures)
    finally:
        os.environ.clear()
        os.environ.update(START_ENV)
    items = plan_batch(find_inputs(files), out, settings, force=True)
    ours = run_batch(items, settings, workers=1, executor="dask").work_s
    return dask_default, ours


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=48)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--apply-src", default=HERE_SRC, help="src folder whose 'semeq apply DIR' is timed")
    ap.add_argument("--tmp", help="scratch folder (default: a new temporary one, removed at the end)")
    ap.add_argument("--tracks", type=int, default=100_000, help="catalogue size of the estimate")
    ap.add_argument("--cluster-workers", type=int, default=50, help="workers of the estimate")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = ap.parse_args()
    workers_list = [int(w) for w in args.workers.split(",")]
    scratch = Path(args.tmp) if args.tmp else Path(tempfile.mkdtemp(prefix="bench_batch_"))
    scratch.mkdir(parents=True, exist_ok=True)
    audio_h = args.files * args.minutes / 60.0
    print(f"{args.files} files x {args.minutes:g} min = {audio_h:.2f} audio hours; {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    figures: dict = {"files": args.files, "minutes": args.minutes, "cores": os.cpu_count()}
    try:
        t = time.perf_counter()
        files = make_files(scratch / "in", args.files, args.minutes)
        print(f"generated in {time.perf_counter() - t:.0f} s")

        work = in_process_work(files, scratch / "floor")
        floor_s, floor_mean = sum(work), float(np.mean(work))
        figures["floor"] = {"sum_s": floor_s, "mean_s": floor_mean}
        print(f"\nper-file work, in process, serial: {floor_mean:.2f} s a file (sum {floor_s:.1f} s), "
              f"{audio_h / (floor_s / 3600):.0f} audio hours per hour on one core")

        with_trim, without = trim_effect(files[:4], scratch / "trim")
        figures["trim_effect"] = {"dask_default_s": with_trim, "semeq_s": without}
        print(f"4 files on one worker started as Dask starts it (MALLOC_TRIM_THRESHOLD_=65536): {with_trim:.1f} s; "
              f"as semeq.batch starts it: {without:.1f} s ({with_trim / without:.2f}x)")

        for w in workers_list:
            start = cluster_start_s(w)
            figures[f"cluster_start_{w}"] = start
            # The fixed cost of a batch: a run on one file, less that file's task.
            one = scratch / f"one{w}"
            (one / "in").mkdir(parents=True, exist_ok=True)
            shutil.copy(files[0], one / "in" / files[0].name)
            wall_1, _, done = run_watched(["batch", str(one / "in"), "-o", str(one / "out"), *SETTINGS,
                                           "--workers", str(w), "--json", "--no-progress"], HERE_SRC)
            fixed = wall_1 - json.loads(done.stdout)["work_seconds"]
            figures[f"fixed_{w}"] = fixed
            print(f"\nLocalCluster of {w}: start + stop alone {start:.1f} s; a batch's fixed cost (a one-file batch "
                  f"less its task: process start, models, planning, cluster) {fixed:.1f} s")
            out = scratch / f"batch{w}"
            wall, peaks, done = run_watched(["batch", str(scratch / "in"), "-o", str(out), *SETTINGS,
                                             "--workers", str(w), "--json", "--no-progress"], HERE_SRC)
            if done.returncode != 0:
                print(done.stderr)
                return 1
            ledger_text = (out / "semeq-batch.jsonl").read_text()
            lines = [json.loads(x) for x in ledger_text.splitlines()]
            figures["ledger_bytes_per_line"] = len(ledger_text.encode()) / len(lines)
            task_s = sum(x["seconds"] for x in lines)
            ledger_rss = {}
            for x in lines:
                ledger_rss[x["worker"]] = max(ledger_rss.get(x["worker"], 0.0), x["worker_peak_rss_mb"])
            worker_peaks = sorted(peaks.values(), reverse=True)[:w]
            over_tasks = (wall * w - task_s) / args.files / (task_s / args.files) * 100
            over_floor = (wall * w - floor_s) / args.files / floor_mean * 100
            steady = ((wall - start) * w - task_s) / task_s * 100
            marginal = ((wall - fixed) * w - task_s) / task_s * 100
            fig = {"wall_s": wall, "task_sum_s": task_s, "audio_h_per_h": audio_h / (wall / 3600),
                   "overhead_vs_tasks_pct": over_tasks, "overhead_vs_floor_pct": over_floor,
                   "overhead_without_start_pct": steady, "overhead_per_file_pct": marginal,
                   "worker_peak_rss_mb_sampled": worker_peaks,
                   "worker_peak_rss_mb_ledger": sorted(ledger_rss.values(), reverse=True)}
            figures[f"batch_{w}"] = fig
            print(f"semeq batch --workers {w}: {wall:.1f} s wall, {fig['audio_h_per_h']:.0f} audio hours per hour")
            print(f"  tasks: sum {task_s:.1f} s, {task_s / args.files:.2f} s a file "
                  f"({task_s / floor_s:.2f}x the in-process work: {w} worker(s) sharing the cores)")
            print(f"  scheduling overhead per file: {marginal:+.1f} % of a task's time besides the fixed cost; "
                  f"all in {over_tasks:+.1f} % ({steady:+.1f} % without the cluster's {start:.1f} s start); "
                  f"{over_floor:+.1f} % of the in-process work")
            print(f"  peak RSS per worker: sampled {', '.join(f'{p:.0f}' for p in worker_peaks)} MB; "
                  f"ru_maxrss {', '.join(f'{p:.0f}' for p in fig['worker_peak_rss_mb_ledger'])} MB")

            wall_r, _, done = run_watched(["batch", str(scratch / "in"), "-o", str(out), *SETTINGS,
                                           "--workers", str(w), "--json", "--no-progress"], HERE_SRC)
            skipped = json.loads(done.stdout)["skipped"] if done.returncode == 0 else 0
            fig["rerun_wall_s"] = wall_r
            print(f"  rerun, {skipped} of {args.files} skipped: {wall_r:.1f} s wall "
                  f"({(wall_r - start) / args.files * 1000:.0f} ms a file besides the cluster's start: "
                  "driver start, planning, hashing, scheduling)")

            out = scratch / f"apply{w}"
            wall_a, peaks_a, done = run_watched(["apply", str(scratch / "in"), "-o", str(out), *SETTINGS,
                                                 "--workers", str(w), "--json", "--no-progress"], args.apply_src)
            if done.returncode != 0:
                print(done.stderr)
                return 1
            worker_peaks_a = sorted(peaks_a.values(), reverse=True)[:w]
            figures[f"apply_{w}"] = {"wall_s": wall_a, "audio_h_per_h": audio_h / (wall_a / 3600),
                                     "overhead_vs_floor_pct": (wall_a * w - floor_s) / args.files / floor_mean * 100,
                                     "worker_peak_rss_mb_sampled": worker_peaks_a}
            same = all((scratch / f"batch{w}" / (f.stem + "_warm_0_50.wav")).read_bytes()
                       == (out / (f.stem + "_warm_0_50.wav")).read_bytes() for f in files)
            print(f"semeq apply DIR --workers {w} ({args.apply_src}): {wall_a:.1f} s wall, "
                  f"{figures[f'apply_{w}']['audio_h_per_h']:.0f} audio hours per hour, "
                  f"{figures[f'apply_{w}']['overhead_vs_floor_pct']:+.1f} % of the in-process work per file; "
                  f"peak RSS per worker {', '.join(f'{p:.0f}' for p in worker_peaks_a)} MB; "
                  f"batch / apply wall {wall / wall_a:.2f}; outputs identical: {same}")

        # The estimate: the per-file work of one uncontended worker (the in-process floor) per track,
        # the measured overhead of the widest run, 50 workers with a core each.
        widest = f"batch_{max(workers_list)}"
        overhead = max(figures[widest]["overhead_per_file_pct"], 0.0) / 100
        per_track = floor_mean * (1 + overhead)
        hours = args.tracks * per_track / args.cluster_workers / 3600
        file_mb = 2 * 2 * SAMPLE_RATE * args.minutes * 60 / 1e6  # 16-bit stereo
        print(f"\nestimate: {args.tracks:,} tracks of {args.minutes:g} min on {args.cluster_workers} workers "
              f"(one core each, a shared filesystem that keeps up): {per_track:.2f} s a track "
              f"({floor_mean:.2f} s of work + {overhead * 100:.1f} % overhead) -> {hours:.1f} h "
              f"({args.tracks * args.minutes / 60 / hours:.0f} audio hours per hour). Each track reads its "
              f"{file_mb:.0f} MB input 4 times (hash, analysis, 2 passes) and writes it once: the shared "
              f"filesystem must serve {args.cluster_workers * 2 * file_mb / per_track:.0f} MB/s when each worker's "
              f"page cache serves the re-reads, {args.cluster_workers * 5 * file_mb / per_track:.0f} MB/s if not; "
              f"the ledger grows by "
              f"{figures['ledger_bytes_per_line'] / 1e3:.1f} kB a track "
              f"({args.tracks * figures['ledger_bytes_per_line'] / 1e6:.0f} MB), one fsync'd line each")
        figures["estimate"] = {"tracks": args.tracks, "workers": args.cluster_workers, "hours": hours,
                               "per_track_s": per_track,
                               "fs_mb_per_s": [args.cluster_workers * k * file_mb / per_track for k in (2, 5)]}
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1))
    finally:
        if not args.tmp:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
