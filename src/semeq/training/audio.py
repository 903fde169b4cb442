"""Training of the audio encoder (issue 4).

Data
----
Sources are 2 s crops cached as STFT power (and as a Welch spectrum on the analysis grid):
crops of the training music (``music-dev`` minus ``holdout_clips``), each as a stereo
power mix and as a mono downmix; pink noise; and music-shaped noise (the reference balance
plus a random smooth deviation). EQ settings are SAFE-DB rows and Audealize word curves
(fitted to the 5-band EQ), split by setting and contributor as the EQ model's split does, plus
random settings in the SAFE ranges and the flat EQ. An example is a (source, setting) pair;
its audio is synthesised in the spectral domain (:func:`semeq.data.synth.spectral_bin_gains`),
with a random level, a noise floor and, sometimes, a shorter crop.

Target
------
The latent of a recording is the EQ model's latent of the EQ that turns the reference balance
into the recording's balance (see :mod:`semeq.analysis`). A balance is only defined up to a
level, so for a source ``s`` with EQ ``E`` the target is ``fit(B_s + H_E)``: the source's
level-normalised balance plus the *whole* curve of E (not re-normalised). The network therefore
learns to place the level of the EQ's curve as the SAFE settings do, rather than at the mean
of the band, which is what makes ``decode(encode(x E)) - decode(encode(x))`` match ``H_E``.
A source at the reference balance with the flat EQ has the flat EQ's latent (neutral).

Loss
----
``MSE(z_audio, z_target) + contrastive_weight * SupCon``, where the supervised contrastive
term (Khosla et al., 2020) acts on the change of latent ``z_audio - z_source`` of examples
whose setting carries a word: same word close, different words apart. The EQ model is frozen.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..analysis import (
    ANALYSIS_SAMPLE_RATE,
    FIT_WEIGHTS,
    GRID_FREQS_HZ,
    compute_reference,
    long_term_spectrum_db,
    normalise_db,
    psd_to_grid_db,
    welch_psd,
)
from ..errors import DataError, ParameterError

__all__ = ["AudioTrainConfig", "train_audio_encoder"]


@dataclass(frozen=True, kw_only=True)
class AudioTrainConfig:
    """Settings of one audio-encoder training run, stored in the checkpoint JSON."""

    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    n_train_pairs: int = 16000
    n_val_pairs: int = 1500
    crop_hop_s: float = 1.0
    holdout_clips: tuple[str, ...] = ("d07_piano_supertux", "d11_flute_guitar_pushover")
    n_pink_sources: int = 40
    n_shaped_sources: int = 160
    random_setting_fraction: float = 0.3
    flat_fraction: float = 0.05
    contrastive_weight: float = 0.5
    temperature: float = 0.2
    short_crop_fraction: float = 0.3
    min_crop_frames: int = 24
    level_db_low: float = -40.0
    noise_floor_db: float = -100.0
    fit_steps: int = 30
    fit_starts: int = 2
    n_threads: int = 2

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ParameterError(f"epochs must be >= 1 and batch_size >= 2, got {self.epochs}, {self.batch_size}")
        if self.n_train_pairs < self.batch_size or self.n_val_pairs < 1:
            raise ParameterError("n_train_pairs must be >= batch_size and n_val_pairs >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Sources: cached STFT power and analysis-grid spectra of 2 s crops.


@dataclass
class Sources:
    """Cached sources. ``power`` (n, n_bins, n_frames) float32 torch; ``balance_db`` (n, 60)."""

    power: "torch.Tensor"
    balance_db: np.ndarray
    kind: np.ndarray  # "music", "pink", "shaped"
    clip: np.ndarray  # clip name for music, "" otherwise

    def __len__(self) -> int:
        return self.balance_db.shape[0]


def load_clips(data_root: Path) -> dict[str, np.ndarray]:
    """The music-dev clips at 44.1 kHz, by name (file stem)."""
    from ..io import load_audio

    folder = Path(data_root) / "music-dev"
    files = sorted(folder.glob("*.flac"))
    if not files:
        raise DataError(f"no music clips (*.flac) in {folder}")
    clips = {}
    for f in files:
        audio, sample_rate, _ = load_audio(f)
        if sample_rate != ANALYSIS_SAMPLE_RATE:
            import soxr

            audio = soxr.resample(audio.T, sample_rate, ANALYSIS_SAMPLE_RATE).T
        clips[f.stem] = np.ascontiguousarray(audio, dtype=np.float64)
    return clips


def reference_from_clips(clips: dict[str, np.ndarray]) -> np.ndarray:
    """The reference balance: mean of the clips' level-normalised LTAS (see :mod:`semeq.analysis`)."""
    return compute_reference(np.stack([long_term_spectrum_db(a, ANALYSIS_SAMPLE_RATE) for a in clips.values()]))


def _grid_balance(views: list[np.ndarray], reference_db: np.ndarray) -> np.ndarray:
    out = []
    for v in views:
        freqs, psd = welch_psd(v - v.mean(axis=1, keepdims=True))
        out.append(normalise_db(psd_to_grid_db(freqs, psd) - reference_db))
    return np.stack(out)


def build_sources(clips: dict[str, np.ndarray], reference_db: np.ndarray, config: AudioTrainConfig,
                  front_end, rng: np.random.Generator, n_pink: int, n_shaped: int) -> Sources:
    """Crop, mix and cache the sources (see module docstring)."""
    import torch

    from ..data.synth import pink_noise, random_balance_db, shaped_noise

    window = int(round(2.0 * ANALYSIS_SAMPLE_RATE))
    hop = int(round(config.crop_hop_s * ANALYSIS_SAMPLE_RATE))
    views, kinds, names = [], [], []
    for name, audio in clips.items():
        for start in range(0, audio.shape[1] - window + 1, hop):
            crop = audio[:, start:start + window]
            if crop.shape[0] == 2:
                views += [crop, crop.mean(axis=0, keepdims=True)]
                kinds += ["music", "music"]
                names += [name, name]
            else:
                views.append(crop)
                kinds.append("music")
                names.append(name)
    for i in range(n_pink):
        views.append(pink_noise(window, ANALYSIS_SAMPLE_RATE, rng, n_channels=1 + i % 2))
        kinds.append("pink")
        names.append("")
    deviations = random_balance_db(GRID_FREQS_HZ, rng, n_shaped)
    deviations[: max(1, n_shaped // 8)] = 0.0  # some exactly at the reference balance
    log_grid = np.log(GRID_FREQS_HZ)
    for i in range(n_shaped):
        shape_db = reference_db + deviations[i]
        amp = lambda f, s=shape_db: 10.0 ** (np.interp(np.log(f), log_grid, s) / 20.0)
        views.append(shaped_noise(amp, window, ANALYSIS_SAMPLE_RATE, rng, n_channels=1 + i % 2))
        kinds.append("shaped")
        names.append("")
    balance = _grid_balance(views, reference_db)
    powers = []
    with torch.no_grad():
        for v in views:
            powers.append(front_end.power(torch.as_tensor(v, dtype=torch.float32)[None])[0])
    return Sources(power=torch.stack(powers), balance_db=balance, kind=np.array(kinds), clip=np.array(names))


# --------------------------------------------------------------------------------------------
# EQ settings.


@dataclass
class Settings:
    """EQ settings (n, 13) physical, with a word index (-1: no word) per row."""

    params: np.ndarray
    word: np.ndarray
    words: list[str]


def random_settings(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random settings in the SAFE ranges: log-uniform frequencies and Q, each band's gain zero
    with probability 0.3, else uniform in +-12 dB."""
    from ..params import GAIN_INDICES, PARAMETERS

    u = rng.uniform(size=(n, len(PARAMETERS)))
    v = np.stack([s.from_unit(u[:, i]) for i, s in enumerate(PARAMETERS)], axis=1)
    gains = v[:, list(GAIN_INDICES)]
    gains[rng.uniform(size=gains.shape) < 0.3] = 0.0
    v[:, list(GAIN_INDICES)] = gains
    return v


# --------------------------------------------------------------------------------------------
# Targets.


def fit_targets(curves_db: np.ndarray, config: AudioTrainConfig, chunk: int = 512, progress=None) -> np.ndarray:
    """5-band EQs (n, 13) fitted to grid curves (n, 60), in chunks (A's batched fitter)."""
    from ..fitting import fit_eq_batch

    out = []
    for i in range(0, curves_db.shape[0], chunk):
        out.append(fit_eq_batch(curves_db[i:i + chunk], GRID_FREQS_HZ, ANALYSIS_SAMPLE_RATE, n_steps=config.fit_steps,
                                weights=FIT_WEIGHTS, n_starts=config.fit_starts, seed=i))
        if progress is not None:
            progress.update(min(chunk, curves_db.shape[0] - i))
    return np.concatenate(out)


def supcon_loss(embeddings: "torch.Tensor", labels: "torch.Tensor", temperature: float) -> "torch.Tensor":
    """Supervised contrastive loss (Khosla et al., 2020) on cosine similarity.

    Parameters
    ----------
    embeddings : Tensor [shape=(batch, dim)]
    labels : Tensor [shape=(batch,)], int; rows labelled -1 are ignored

    Returns
    -------
    loss : Tensor [shape=()]; zero when no two labelled rows share a label.
    """
    import torch
    import torch.nn.functional as F

    keep = labels >= 0
    z = F.normalize(embeddings[keep], dim=1)
    y = labels[keep]
    if z.shape[0] < 2:
        return embeddings.sum() * 0.0
    logits = z @ z.T / temperature  # (n, n)
    eye = torch.eye(z.shape[0], dtype=torch.bool)
    logits = logits.masked_fill(eye, -1e9)
    positives = (y[:, None] == y[None, :]) & ~eye
    has_pos = positives.any(dim=1)
    if not has_pos.any():
        return embeddings.sum() * 0.0
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    mean_log_prob_pos = (log_prob * positives).sum(dim=1) / positives.sum(dim=1).clamp_min(1)
    return -mean_log_prob_pos[has_pos].mean()
