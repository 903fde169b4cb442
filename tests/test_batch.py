"""Issue 17: ``semeq batch`` on Dask, the ledger, resume exactly once, faults and Ctrl-C.

Every server a test starts listens on 127.0.0.1 and is stopped by its own pid; every wait is bounded.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from semeq.adaptive import SemanticEQ
from semeq.batch import (LEDGER_NAME, BatchInput, BatchSettings, Ledger, find_inputs, plan_batch, read_manifest,
                         run_batch)
from semeq.cli import main
from semeq.errors import AudioFileError, SemeqError
from semeq.loudness import integrated_loudness

pytest.importorskip("distributed", reason="the dask extra (pip install 'semeq[dask]') runs these tests")

SAMPLE_RATE = 44100
SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
SETTINGS = ["--target", "warm", "--intensity", "0.5"]
LOUDNESS_TOLERANCE_LU = 0.05  # the ledger rounds to 0.001; the meter agrees with itself far closer


def _music(seconds: float, seed: int, channels: int = 2) -> np.ndarray:
    """(samples, channels) noise with a balance of its own (a one-pole low-pass mixed with white)."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    white = rng.standard_normal((int(seconds * SAMPLE_RATE), channels))
    pole = 0.5 + 0.45 * rng.random()
    low = lfilter([1 - pole], [1, -pole], white, axis=0)
    x = low / np.std(low) + (0.2 + 0.6 * rng.random()) * white / np.std(white)
    return 0.08 * x / np.std(x)


def _write(path: Path, seconds: float, seed: int, channels: int = 2, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), _music(seconds, seed, channels), SAMPLE_RATE, format=fmt)
    return path


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _ledger(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / LEDGER_NAME).read_text().splitlines()]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _apply(capsys, src: Path, dst: Path) -> tuple[bytes, dict]:
    """What ``semeq apply`` writes for this file, and what it prints (--json)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    code, out, err = _run(capsys, "apply", src, *SETTINGS, "-o", dst, "--json")
    assert code == 0, err
    return dst.read_bytes(), json.loads(out)


def _expected(capsys, src: Path, dst: Path) -> bytes:
    return _apply(capsys, src, dst)[0]


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file() and p.name != LEDGER_NAME}


# -- inputs -----------------------------------------------------------------------------------------
def test_inputs_from_folders_by_content_manifests_and_files(tmp_path):
    lib = tmp_path / "lib"
    a = _write(lib / "a.wav", 0.2, 0)
    b = _write(lib / "sub" / "b.flac", 0.2, 1)
    c = _write(lib / "sub" / "deeper" / "take.dat", 0.2, 2, fmt="WAV")  # audio by content, not by name
    (lib / "cover.jpg").write_bytes(b"\xff\xd8 not audio")
    (lib / "notes.txt").write_text("not a manifest inside a folder\n")
    (lib / ".hidden.wav").write_bytes(b"")
    broken = lib / "broken.wav"
    broken.write_text("not audio")  # an audio name: an input, reported as failed, not silently dropped
    out = lib / "out"
    _write(out / "old_output.wav", 0.2, 3)  # the output folder inside an input is never read
    found = find_inputs([lib], exclude=[out])
    assert [(i.path, i.subdir) for i in found] == [(a, Path()), (broken, Path()), (b, Path("sub")),
                                                  (c, Path("sub/deeper"))]
    assert [i.path for i in find_inputs([lib], recursive=False, by_content=False)] == [a, broken]

    listed = tmp_path / "list.txt"
    listed.write_text(f"# the catalogue\n{a}\n\nlib/sub/b.flac\n{a}\n")
    table = tmp_path / "list.csv"
    table.write_text("title,path\nB,lib/sub/b.flac\nmissing,lib/gone.wav\n")
    assert read_manifest(listed) == [a, tmp_path / "lib/sub/b.flac", a]
    assert read_manifest(table) == [tmp_path / "lib/sub/b.flac", tmp_path / "lib/gone.wav"]
    # The same file named twice comes once; a missing manifest entry becomes that file's failure later.
    assert [i.path for i in find_inputs([listed, table, a])] == [a, tmp_path / "lib/sub/b.flac",
                                                                 tmp_path / "lib/gone.wav"]
    with pytest.raises(AudioFileError, match="no such file"):
        find_inputs([tmp_path / "nowhere.wav"])


def test_two_inputs_with_one_output_are_refused_before_any_work(tmp_path):
    engine = SemanticEQ()
    settings = BatchSettings(request=engine.request("warm", 0.5))
    x, y = _write(tmp_path / "x" / "song.wav", 0.2, 0), _write(tmp_path / "y" / "song.wav", 0.2, 1)
    with pytest.raises(AudioFileError, match="would both be written to"):
        plan_batch([BatchInput(x), BatchInput(y)], tmp_path / "out", settings)
    planned = plan_batch(find_inputs([tmp_path]), tmp_path / "out", settings)  # a folder keeps them apart
    assert sorted(str(p.output.relative_to(tmp_path / "out")) for p in planned) == \
        ["x/song_warm_0_50.wav", "y/song_warm_0_50.wav"]


# -- the ledger -------------------------------------------------------------------------------------
def test_ledger_lines_from_concurrent_appends_never_interleave(tmp_path):
    ledger = Ledger(tmp_path / LEDGER_NAME)
    ledger.open()
    n_threads, n_lines = 4, 150
    payload = "x" * 5000  # longer than a pipe's atomic write, as a line with long paths can be

    def writer(t: int) -> None:
        for k in range(n_lines):
            ledger.append({"input": f"t{t}-{k}", "status": "done", "pad": payload})

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ledger.close()
    lines = (tmp_path / LEDGER_NAME).read_text().splitlines()
    assert len(lines) == n_threads * n_lines
    assert sorted(json.loads(line)["input"] for line in lines) == sorted(f"t{t}-{k}" for t in range(n_threads)
                                                                         for k in range(n_lines))


def test_a_second_batch_on_the_same_folder_is_refused(tmp_path):
    first, second = Ledger(tmp_path / LEDGER_NAME), Ledger(tmp_path / LEDGER_NAME)
    first.open()
    try:
        with pytest.raises(SemeqError, match="another semeq batch"):
            second.open()
    finally:
        first.close()
    second.open()  # free again
    second.close()


# -- a local cluster -----------------------------------------------------------------------------------
def test_a_local_cluster_writes_what_apply_writes_with_one_ledger_line_each(tmp_path, capsys):
    lib = tmp_path / "lib"
    files = [_write(lib / "a.wav", 3.0, 0), _write(lib / "mono.flac", 3.0, 1, channels=1),
             _write(lib / "sub" / "c.wav", 3.0, 2), _write(lib / "sub" / "take.dat", 3.0, 3, fmt="WAV")]
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "batch", lib, "-o", out, *SETTINGS, "--workers", "2")
    assert code == 0, err
    assert "4 done, 0 skipped, 0 failed" in stdout and "local Dask cluster of 2 workers" in stdout
    suffix = {".dat": ".wav"}  # take.dat, WAV by content: a .wav output
    outputs = {f: out / f.parent.relative_to(lib) / (f.stem + "_warm_0_50" + suffix.get(f.suffix, f.suffix)) for f in files}
    applied = {}
    for f, o in outputs.items():
        expected, facts = _apply(capsys, f, tmp_path / "ref" / o.name)
        assert o.read_bytes() == expected, f
        applied[str(f)] = facts
    lines = _ledger(out)
    assert sorted(line["input"] for line in lines) == sorted(str(f) for f in files)
    settings = lines[0]["settings"]
    for line in lines:
        src, dst = Path(line["input"]), Path(line["output"])
        assert line["status"] == "done" and line["error"] is None and dst == outputs[src]
        assert line["input_sha256"] == _sha256(src)
        assert line["settings"] == settings and settings["request"]["intensity"] == 0.5
        # The bands are the 5-band setting semeq apply applied to that file.
        (cascade,) = applied[line["input"]]["eq"]["cascade"]
        assert line["bands"] == {k: pytest.approx(v, abs=1e-4) for k, v in cascade.items()} and len(cascade) == 13
        assert line["fit_error_db"] >= 0.0 and line["intensity"] == 0.5 and line["sample_rate"] == SAMPLE_RATE
        audio, rate = sf.read(str(dst), always_2d=True)
        assert line["duration_s"] == pytest.approx(len(audio) / rate, abs=1e-3)
        # Loudness-matched: what the ledger says is what the file measures.
        measured = integrated_loudness(audio.T, rate)
        assert line["loudness_out_lufs"] == pytest.approx(measured, abs=LOUDNESS_TOLERANCE_LU)
        assert line["loudness_in_lufs"] == pytest.approx(line["loudness_out_lufs"], abs=LOUDNESS_TOLERANCE_LU)
        assert line["true_peak_out_dbtp"] <= -1.0 + 1e-3 and line["seconds"] > 0.0 and ":" in line["worker"]

    # --report: one row per input; --csv with the five bands as columns.
    code, table, _ = _run(capsys, "batch", "--report", out)
    assert code == 0 and "4 inputs: 4 done, 0 failed" in table
    code, text, _ = _run(capsys, "batch", "--report", out, "--csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert code == 0 and len(rows) == 4 and {r["status"] for r in rows} == {"done"}
    assert all(float(r["peak1_freq_hz"]) > 0 for r in rows)


def test_a_rerun_skips_everything_and_touches_nothing_then_redoes_only_what_changed(tmp_path, capsys):
    lib = tmp_path / "lib"
    files = [_write(lib / f"f{k}.wav", 2.0, k) for k in range(3)]
    out = tmp_path / "out"
    argv = ["batch", lib, "-o", out, *SETTINGS, "--workers", "2"]
    assert _run(capsys, *argv)[0] == 0
    before = _mtimes(out)
    contents = {name: (out / name).read_bytes() for name in before}

    code, stdout, err = _run(capsys, *argv, "--json")
    summary = json.loads(stdout)
    assert code == 0 and (summary["done"], summary["skipped"], summary["failed"]) == (0, 3, 0), err
    assert _mtimes(out) == before  # not one file touched
    assert [line["status"] for line in _ledger(out)] == ["done"] * 3 + ["skipped"] * 3

    # A changed input is redone, alone; the others skip again.
    _write(files[1], 2.0, 99)
    code, stdout, _ = _run(capsys, *argv, "--json")
    assert code == 0 and (json.loads(stdout)["done"], json.loads(stdout)["skipped"]) == (1, 2)
    after = _mtimes(out)
    for name in ("f0_warm_0_50.wav", "f2_warm_0_50.wav"):
        assert after[name] == before[name]
    assert (out / "f1_warm_0_50.wav").read_bytes() != contents["f1_warm_0_50.wav"]

    # Other settings under the same names: redone (the folder's outputs are the batch's own).
    code, stdout, _ = _run(capsys, *argv, "--no-loudness-match", "--json")
    assert code == 0 and json.loads(stdout)["done"] == 3
    # --force redoes everything, even with the settings the ledger holds.
    code, stdout, _ = _run(capsys, *argv, "--no-loudness-match", "--force", "--json")
    assert code == 0 and json.loads(stdout)["done"] == 3


def test_an_existing_output_in_a_folder_without_a_ledger_is_refused(tmp_path, capsys):
    src = _write(tmp_path / "lib" / "a.wav", 1.0, 0)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_warm_0_50.wav").write_bytes(b"someone else's")
    code, _, err = _run(capsys, "batch", src, "-o", out, *SETTINGS, "--workers", "1")
    assert code == 2 and "already exists" in err and "nothing was processed" in err
    assert (out / "a_warm_0_50.wav").read_bytes() == b"someone else's" and not (out / LEDGER_NAME).exists()


def test_a_corrupt_input_among_good_ones_is_one_failed_line_and_exit_1(tmp_path, capsys):
    lib = tmp_path / "lib"
    good = [_write(lib / f"g{k}.wav", 2.0, k) for k in range(3)]
    (lib / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    silent = lib / "silent.wav"
    sf.write(str(silent), np.zeros((SAMPLE_RATE, 2)), SAMPLE_RATE)
    manifest = tmp_path / "list.txt"
    manifest.write_text("lib/missing.wav\n")
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "batch", lib, manifest, "-o", out, *SETTINGS, "--workers", "2")
    assert code == 1
    assert "3 done, 0 skipped, 3 failed" in stdout
    lines = {Path(line["input"]).name: line for line in _ledger(out)}
    assert {n: line["status"] for n, line in lines.items()} == {"g0.wav": "done", "g1.wav": "done", "g2.wav": "done",
                                                                "corrupt.wav": "failed", "silent.wav": "failed",
                                                                "missing.wav": "failed"}
    assert "not a readable audio file" in lines["corrupt.wav"]["error"]
    assert "silent" in lines["silent.wav"]["error"] and "no such file" in lines["missing.wav"]["error"]
    for name in ("corrupt.wav", "silent.wav", "missing.wav"):
        assert name in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == sorted([f"g{k}_warm_0_50.wav" for k in range(3)] + [LEDGER_NAME])


def test_the_local_fallback_writes_the_same_bytes_and_ledger(tmp_path):
    lib = tmp_path / "lib"
    files = [_write(lib / f"f{k}.wav", 2.0, k) for k in range(2)]
    engine = SemanticEQ()
    settings = BatchSettings(request=engine.request("warm", 0.5))
    results = {}
    for executor in ("local", "dask"):
        out = tmp_path / executor
        out.mkdir()
        ledger = Ledger.in_folder(out)
        items = plan_batch(find_inputs([lib]), out, settings, ledger=ledger)
        summary = run_batch(items, settings, workers=2, executor=executor, ledger=ledger)
        assert len(summary.of("done")) == 2 and not summary.interrupted
        results[executor] = {p.name: p.read_bytes() for p in out.glob("*.wav")}
        assert [line["status"] for line in _ledger(out)] == ["done", "done"]
    assert results["local"] == results["dask"] and len(results["local"]) == len(files)


# -- a real scheduler, two workers, one killed ---------------------------------------------------------
def _start(argv: list, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *argv], stdout=log.open("wb"), stderr=subprocess.STDOUT, env=ENV,
                            cwd=log.parent)


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def _open_parts(pid: int, folder: Path) -> list[str]:
    """The output temporary files process ``pid`` has open in ``folder``."""
    names = []
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return names
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)) and target.endswith(".part"):
            names.append(Path(target).name)
    return names


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="watches the workers' open files through /proc")
def test_a_worker_killed_mid_file_every_file_comes_out_once_as_apply_writes_it(tmp_path, capsys):
    from distributed import Client

    lib = tmp_path / "lib"
    files = [_write(lib / f"t{k}.wav", 20.0, k) for k in range(6)]
    out = tmp_path / "out"
    sched_file = tmp_path / "scheduler.json"
    procs = [_start(["dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(sched_file)], tmp_path / "scheduler.log")]
    driver = None
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        # w1 runs without a nanny (its pid is the worker's: the one to kill); w2 with one, as Dask
        # starts workers by default (with MALLOC_TRIM_THRESHOLD_ set: the driver says so).
        workers = [_start(["dask", "worker", "--scheduler-file", str(sched_file), "--nthreads", "1", *nanny,
                           "--no-dashboard", "--host", "127.0.0.1", "--name", name], tmp_path / f"{name}.log")
                   for name, nanny in (("w1", ["--no-nanny"]), ("w2", ["--nanny"]))]
        procs += workers
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        driver = subprocess.Popen(
            [sys.executable, "-m", "semeq.cli", "batch", str(lib), "-o", str(out), *SETTINGS,
             "--scheduler", address, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        procs.append(driver)
        victim, killed_part = workers[0], None
        deadline = time.monotonic() + 240
        while killed_part is None and driver.poll() is None and time.monotonic() < deadline:
            parts = _open_parts(victim.pid, out)
            if parts:
                victim.send_signal(signal.SIGKILL)  # mid-file: its output half written
                victim.wait(10)
                killed_part = parts[0]
            time.sleep(0.02)
        assert killed_part is not None, "the worker was never seen writing an output"
        stdout, err = driver.communicate(timeout=300)
    finally:
        _stop(procs)
    assert driver.returncode == 0, err
    assert "1 of 2 workers run with MALLOC_TRIM_THRESHOLD_ set" in err, err
    summary = json.loads(stdout)
    assert (summary["done"], summary["failed"], summary["not_done"]) == (6, 0, 0)
    killed_output = killed_part[1:].rsplit(".", 2)[0]  # ".NAME.RANDOM.part"
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted([f"t{k}_warm_0_50.wav" for k in range(6)] + [LEDGER_NAME])  # nothing partial left
    assert killed_output in written
    lines = _ledger(out)
    assert sorted(line["input"] for line in lines) == sorted(str(f) for f in files)  # exactly once each
    assert {line["status"] for line in lines} == {"done"}
    redone = next(line for line in lines if Path(line["output"]).name == killed_output)
    assert not redone["worker"].endswith(f":{victim.pid}")  # finished by the surviving worker
    for f in files:  # bit for bit what semeq apply writes
        name = f"{f.stem}_warm_0_50.wav"
        assert (out / name).read_bytes() == _expected(capsys, f, tmp_path / "ref" / name), name


# -- Ctrl-C ------------------------------------------------------------------------------------------------
def test_ctrl_c_cancels_leaves_nothing_partial_exits_130_and_the_rerun_resumes(tmp_path):
    psutil = pytest.importorskip("psutil")
    lib = tmp_path / "lib"
    n_files = 6
    for k in range(n_files):
        _write(lib / f"c{k}.wav", 30.0, k)
    out = tmp_path / "out"
    code = textwrap.dedent(f"""
        import sys
        from semeq.cli import main
        print("ready", flush=True)
        sys.exit(main({["batch", str(lib), "-o", str(out), *SETTINGS, "--workers", "2"]!r}))
    """)
    # Its own process group: Ctrl-C on a terminal reaches the driver and its workers alike.
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not any(out.glob(".*.part")):
            time.sleep(0.05)  # until a file is being written
        workers = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        assert workers, "no worker processes"
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)  # a second Ctrl-C must not hang it
        stdout, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err and "not done" in err, err

    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + 10
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(alive, workers))  # the workers were stopped with the batch
    written = sorted(p.name for p in out.iterdir() if p.name != LEDGER_NAME)
    assert not any(name.endswith(".part") for name in written), written  # nothing partial
    assert len(written) < n_files  # the queue was cancelled, not worked through
    done = [line for line in _ledger(out) if line["status"] == "done"] if (out / LEDGER_NAME).exists() else []
    assert sorted(Path(line["output"]).name for line in done) == written  # every output has its line
    for name in written:
        assert sf.info(str(out / name)).frames == 30 * SAMPLE_RATE

    # The same command resumes: the rest is done, what was done is skipped.
    rerun = subprocess.run([sys.executable, "-m", "semeq.cli", "batch", str(lib), "-o", str(out), *SETTINGS,
                            "--workers", "2", "--json"], capture_output=True, text=True, env=ENV, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert (summary["done"], summary["skipped"]) == (n_files - len(written), len(written))
    assert len(list(out.glob("*.wav"))) == n_files


def test_local_workers_start_without_dasks_malloc_trim_setting(monkeypatch):
    """Dask's MALLOC_TRIM_THRESHOLD_=65536 doubled a file's time on a worker (bench_batch.py): not on ours,
    and this process's environment is left as it was."""
    from semeq.batch import _DaskTasks

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    tasks = _DaskTasks(1, None)
    try:
        worker_env = tasks.client.submit(os.environ.get, "MALLOC_TRIM_THRESHOLD_", pure=False).result(timeout=60)
        threads = tasks.client.submit(os.environ.get, "OMP_NUM_THREADS", pure=False).result(timeout=60)
    finally:
        tasks.close()
    assert worker_env is None and threads == "1"
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ


def test_without_dask_both_front_ends_run_the_files_in_this_process_and_say_so(tmp_path, capsys, monkeypatch):
    import semeq.batch

    monkeypatch.setattr(semeq.batch, "dask_available", lambda: False)
    lib = tmp_path / "lib"
    for k in range(2):
        _write(lib / f"f{k}.wav", 1.0, k)
    code, stdout, err = _run(capsys, "batch", lib, "-o", tmp_path / "out", *SETTINGS, "--workers", "2")
    assert code == 0 and "2 done" in stdout and "in this process" in stdout, err
    assert 'Dask is not installed' in err and 'pip install "semeq[dask]"' in err
    assert [line["status"] for line in _ledger(tmp_path / "out")] == ["done", "done"]
    code, stdout, err = _run(capsys, "apply", lib, *SETTINGS, "-o", tmp_path / "applied", "--workers", "2")
    assert code == 0 and "2 processed, 0 failed" in stdout and "Dask is not installed" in err
    for k in range(2):
        name = f"f{k}_warm_0_50.wav"
        assert (tmp_path / "applied" / name).read_bytes() == (tmp_path / "out" / name).read_bytes()


def test_a_ledger_line_exports_the_preset_semeq_apply_exports(tmp_path, capsys):
    src = _write(tmp_path / "lib" / "song.wav", 3.0, 5)
    out = tmp_path / "out"
    assert _run(capsys, "batch", src, "-o", out, *SETTINGS, "--workers", "1")[0] == 0
    from_ledger, from_apply = tmp_path / "ledger.txt", tmp_path / "apply.txt"
    code, _, err = _run(capsys, "export", out / LEDGER_NAME, "--entry", "1", "--format", "apo", "-o", from_ledger)
    assert code == 0, err
    code, _, err = _run(capsys, "apply", src, *SETTINGS, "-o", tmp_path / "applied.wav",
                        "--export", f"apo:{from_apply}")
    assert code == 0, err
    assert from_ledger.read_text() == from_apply.read_text()
