"""``AudioEncoder``: where a recording stands, as a point in the EQ model's latent space.

The latent of a recording is the EQ model's latent of the 5-band EQ that turns the reference
balance (the long-term average spectrum of the training music, see :mod:`semeq.analysis`) into
the recording's balance. Decoding it with :meth:`semeq.EQModel.decode` gives that EQ; a
recording at the reference balance gives the flat EQ's latent.

Long files
----------
Audio is resampled to 44.1 kHz and split into 2 s windows (:data:`semeq.frontend.WINDOW_S`;
non-overlapping, the last one aligned to the end of the file; a file shorter than 2 s is one
shorter window). One STFT pass per window (:func:`semeq.frontend.stft_power`) gives both its
mel frames and its activity: the frames that lie wholly inside the window are judged active or
not by the rule of :func:`semeq.analysis.active_frames`, against the loudest frame of the whole
recording. Each window is level-normalised on its own and run through the CNN up to the time
pooling; the pooled features of the windows are averaged, each weighted by its number of active
frames (silent windows count zero), and the average goes through the projection once. This
approximates pooling over the whole file (each window is normalised on its own and the last
one may overlap), so a long steady recording and any 2 s of it agree closely, not exactly.

Neutral answer
--------------
Audio without usable energy (silence, pure DC, a single click or under ~93 ms of sound: fewer
than ``MIN_ACTIVE_FRAMES`` active frames) has no balance; :meth:`AudioEncoder.encode` returns
the flat EQ's latent (:attr:`AudioEncoder.neutral_latent`) for it. For a recording of one
window this is exactly :func:`semeq.analysis.has_usable_energy`; for longer ones the frames
counted are the windows' inner frames (a frame across a window boundary is not counted, one in
the overlap of the last window counts twice).

Runtime
-------
No torch. The CNN runs on ONNX Runtime from ``audio_encoder.onnx``, exported from the same
weights by ``python -m semeq.nn.onnx_export`` (which records the SHA-256 of the
``.safetensors`` it came from; a stale export is refused). Where ONNX Runtime or the ``.onnx``
file is missing, the same network runs in NumPy (:class:`semeq.inference.EncoderCNN`, about 7x
slower: ``benchmarks/bench_engine.py``). The projection head always runs in NumPy.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import numpy as np

from . import frontend
from .analysis import MIN_ACTIVE_FRAMES, prepare_audio
from .errors import DataError, ParameterError

__all__ = ["AudioEncoder", "DEFAULT_WEIGHTS", "ONNX_FORMAT"]

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "audio_encoder"
"""Stem of the shipped weights (``.safetensors`` + ``.json`` + ``.onnx``)."""
ONNX_FORMAT = "semeq-audio-encoder-features"
"""``format`` in the ONNX file's metadata: log-mel (batch, n_mels, frames) -> pooled features."""

_BATCH_WINDOWS = 32


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _OnnxFeatures:
    """The CNN up to the time pooling, on ONNX Runtime (one thread: the model is tiny)."""

    def __init__(self, path: Path, source_sha256: str) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise DataError(f"{path}: cannot load the ONNX encoder ({type(exc).__name__}: {exc})") from None
        props = self.session.get_modelmeta().custom_metadata_map
        if props.get("format") != ONNX_FORMAT:
            raise DataError(f"{path}: not a semeq audio-encoder ONNX export (format {ONNX_FORMAT!r} expected)")
        if props.get("source_sha256") != source_sha256:
            raise DataError(f"{path} was exported from other weights than {path.with_suffix('.safetensors').name}: "
                            f"re-export it with 'python -m semeq.nn.onnx_export --weights {path.with_suffix('')}'")
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, log_mel_db: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(log_mel_db, dtype=np.float32)})[0]


class AudioEncoder:
    """The trained audio encoder. Build with :meth:`load`.

    Attributes
    ----------
    reference_db : ndarray [shape=(60,)]
        Reference balance on :data:`semeq.analysis.GRID_FREQS_HZ`.
    neutral_latent : ndarray [shape=(latent_dim,)]
        The flat EQ's latent, the answer for audio without usable energy.
    meta : dict
        The checkpoint's JSON (configs, training metrics).
    backend : {"onnx", "numpy"}
        Where the CNN runs.
    path : Path
        Stem of the weights.
    """

    def __init__(self, tensors: dict, meta: dict, *, path: Path, backend: Literal["auto", "onnx", "numpy"] = "auto") -> None:
        from .inference import EncoderCNN

        config = meta["encoder_config"]
        self.meta = meta
        self.path = Path(path)
        self.mel_config = frontend.MelConfig(**config["mel"])
        self.window_s = float(config["window_s"])
        if self.window_s != frontend.WINDOW_S:
            raise ValueError(f"window_s {self.window_s:g} differs from the analysis window {frontend.WINDOW_S:g} s")
        self.log_mel = frontend.LogMel(self.mel_config)
        self.cnn = EncoderCNN(tensors, strides=config["strides"], spectrum_skip=config["spectrum_skip"],
                              latent_scale=config["latent_scale"], n_mels=self.mel_config.n_mels)
        self._latent_dim = int(config["latent_dim"])
        self.reference_db = np.asarray(meta["reference"]["spectrum_db"], dtype=np.float64)
        self.neutral_latent = np.asarray(meta["neutral_latent"], dtype=np.float64)
        if self.neutral_latent.shape != (self._latent_dim,):
            raise ValueError(f"neutral_latent has shape {self.neutral_latent.shape}, not ({self._latent_dim},)")
        self._features = self.cnn.pooled
        self.backend = "numpy"
        onnx_path = self.path.with_suffix(".onnx")
        if backend == "onnx" or (backend == "auto" and onnx_path.is_file() and _has_onnxruntime()):
            if not onnx_path.is_file():
                raise DataError(f"{onnx_path}: no ONNX export of the encoder (python -m semeq.nn.onnx_export)")
            if not _has_onnxruntime():
                raise DataError("ONNX Runtime is not installed (pip install onnxruntime), or use backend='numpy'")
            self._features = _OnnxFeatures(onnx_path, _sha256(self.path.with_suffix(".safetensors")))
            self.backend = "onnx"

    @classmethod
    def load(cls, path: str | Path | None = None, *, backend: Literal["auto", "onnx", "numpy"] = "auto") -> AudioEncoder:
        """Load weights: ``path`` is the ``.safetensors``, ``.json`` or ``.onnx`` file, their common
        stem, or a folder holding ``audio_encoder.*``; default the shipped ``weights/audio_encoder``.

        Parameters
        ----------
        backend : {"auto", "onnx", "numpy"}
            Where the CNN runs: ONNX Runtime, NumPy, or (auto) ONNX Runtime when it is installed
            and the ``.onnx`` file is there, NumPy otherwise.

        Raises
        ------
        DataError
            If the files are missing, damaged or do not match (a stale ONNX export included).
        """
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        if backend not in ("auto", "onnx", "numpy"):
            raise ParameterError(f"backend must be 'auto', 'onnx' or 'numpy', got {backend!r}")
        stem = Path(path) if path is not None else DEFAULT_WEIGHTS
        if stem.is_dir():
            stem = stem / "audio_encoder"
        elif stem.suffix in (".safetensors", ".json", ".onnx"):
            stem = stem.with_suffix("")
        try:
            meta = json.loads(stem.with_suffix(".json").read_text())
            tensors = load_file(str(stem.with_suffix(".safetensors")))
        except (OSError, ValueError, SafetensorError) as exc:
            raise DataError(f"cannot read audio-encoder weights {stem}.safetensors/.json: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != "semeq-audio-encoder":
            raise DataError(f"{stem}.json is not a semeq audio-encoder checkpoint")
        try:
            return cls(tensors, meta, path=stem, backend=backend)
        except (KeyError, TypeError, ValueError, IndexError, ParameterError) as exc:
            raise DataError(f"{stem}: the audio-encoder checkpoint is damaged or does not match its configuration "
                            f"({type(exc).__name__}: {exc})") from None

    @property
    def latent_dim(self) -> int:
        return self._latent_dim

    @property
    def window_samples(self) -> int:
        return frontend.WINDOW_SAMPLES

    def encode(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        """Latent of a recording.

        Parameters
        ----------
        audio : ndarray [shape=(channels, samples)]
            Any number of channels (mixed by power), any length, any rate (resampled to 44.1 kHz).
        sample_rate : float
            In Hz.

        Returns
        -------
        latent : ndarray [shape=(latent_dim,)], float64
            :attr:`neutral_latent` for audio without usable energy.

        Raises
        ------
        ParameterError
            If the audio is not 2-D, is empty or not finite, or the rate is out of range.

        Examples
        --------
        >>> enc = AudioEncoder.load()
        >>> enc.encode(np.zeros((2, 44100)), 44100).shape
        (32,)
        """
        prepared = prepare_audio(audio, sample_rate)  # validates, resamples, removes DC
        n_samples = prepared.shape[1]
        if n_samples < frontend.N_FFT:  # at most one frame: never MIN_ACTIVE_FRAMES
            return self.neutral_latent.copy()
        # One STFT per window: mel frames and (inner frames 1 .. n - 2) activity.
        log_mels, band_powers = [], []
        for s in self._window_starts(n_samples):
            mixed = frontend.stft_power(prepared[:, s:s + self.window_samples], center=True).mean(axis=0)
            band_powers.append(frontend.frame_band_power(mixed[1:-1]))  # (n_frames,) over channels
            log_mels.append(self.log_mel(mixed))
        loudest = max(float(b.max()) for b in band_powers)
        weights = np.array([frontend.activity_mask(b, loudest).sum() for b in band_powers], dtype=np.float64)
        if weights.sum() < MIN_ACTIVE_FRAMES:
            return self.neutral_latent.copy()
        keep = np.flatnonzero(weights > 0)
        features = []
        for i in range(0, keep.size, _BATCH_WINDOWS):
            batch = np.stack([log_mels[k] for k in keep[i:i + _BATCH_WINDOWS]])  # (B, n_mels, n_frames)
            features.append(self._features(batch))
        pooled = np.concatenate(features)  # (n_windows, F)
        w = (weights[keep] / weights[keep].sum()).astype(np.float32)
        latent = self.cnn.project((w[:, None] * pooled).sum(axis=0, keepdims=True))[0]
        return latent.astype(np.float64)

    def _window_starts(self, n_samples: int) -> list[int]:
        window = self.window_samples
        if n_samples <= window:
            return [0]
        starts = list(range(0, n_samples - window + 1, window))
        if starts[-1] + window < n_samples:
            starts.append(n_samples - window)
        return starts

    def __repr__(self) -> str:
        return (f"AudioEncoder(latent_dim={self.latent_dim}, parameters={self.cnn.n_parameters}, "
                f"window_s={self.window_s:g}, backend={self.backend!r})")


def _has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None
