"""Configurations of the training runs (stored in each model's JSON) and the shared grids.

:class:`TrainConfig` sets up an EQ-model (VAE) run, :class:`AudioTrainConfig` an audio-encoder
run. Both are frozen, keyword-only dataclasses; ``to_dict`` gives what goes into the JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from ..errors import ParameterError

__all__ = ["TrainConfig", "AudioTrainConfig", "EVAL_FREQS_HZ", "EVAL_N_FREQS", "SAMPLE_RATE", "FIDELITY_MIN_COUNT",
           "eval_freqs"]

EVAL_N_FREQS = 256


def eval_freqs() -> np.ndarray:
    """The acceptance grid: 256 log-spaced points, 20 Hz - 20 kHz."""
    return np.geomspace(20.0, 20000.0, EVAL_N_FREQS)


EVAL_FREQS_HZ = eval_freqs()
SAMPLE_RATE = 44100.0
FIDELITY_MIN_COUNT = 5
"""Words with at least this many SAFE settings are held to the word-fidelity threshold."""


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Everything that determines an EQ-model training run (stored in the model's JSON).

    Attributes
    ----------
    seed : int
        Seeds the split, the initialisation, batching and the synthetic settings.
    epochs : int
        Passes over the real training settings.
    batch_real, batch_synthetic : int
        Real and synthetic settings per step.
    learning_rate : float
        Adam's peak learning rate (cosine decay to 5% of it).
    kl_weight, param_weight, contrastive_weight, word_weight : float
        Loss weights (the response loss has weight 1).
    temperature : float
        Temperature of the contrastive loss.
    n_train_freqs : int
        Points of the log-frequency grid (20 Hz - 20 kHz) the training losses use.
    split_fractions : (float, float, float)
        Train / validation / test shares of SAFE rows, split by contributor.
    silent_gain_db : float
        A band quieter than this does not count its frequency and Q in the parameter loss.
    synthetic_zero_prob : float
        Probability that a band of a synthetic setting has 0 dB gain (SAFE users leave bands alone).
    audealize_weighting : {"sqrt_count", "count", "equal"}
        Weight of each shared word when calibrating the Audealize scale.
    n_word_groups, max_group_size : int
        Each step also draws this many random subsets (2 to ``max_group_size`` settings) of
        one training word's settings and holds the decoded subset centroid to the subset's
        mean curve, so the centroid-to-mean-curve property holds for small, unseen words too.
    mixed_group_weight : float
        Weight of the same term on random subsets of settings of different words.
    word_scope : {"all", "train"}
        Which SAFE settings form the word groups of the ``word`` loss: "all" (the vocabulary's
        own groups; held-out settings enter only as detached latents and mean curves) or "train".
    proto_weight, proto_temperature : float
        Weight and temperature of a prototype loss: cross-entropy of ``-|mu - c_w|^2 / T`` over
        the training words' latent centroids ``c_w`` (training rows only), which shapes the
        space for nearest-embedding classification.
    iso_weight, iso_db_per_unit : float
        Weight of the isometry term, and the mean absolute response difference (dB) that one
        unit of latent distance should stand for.
    jitter_unit : float
        Standard deviation of the noise added to real settings in unit space.
    n_threads : int
        torch CPU threads (1 is fastest for these small layers, and immune to a busy machine).
    """

    seed: int = 0
    epochs: int = 120
    batch_real: int = 128
    batch_synthetic: int = 128
    learning_rate: float = 2e-3
    kl_weight: float = 1e-3
    param_weight: float = 0.5
    contrastive_weight: float = 0.05
    word_weight: float = 1.0
    temperature: float = 0.3
    n_train_freqs: int = 96
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    silent_gain_db: float = 0.25
    synthetic_zero_prob: float = 0.3
    audealize_weighting: str = "sqrt_count"
    n_word_groups: int = 64
    max_group_size: int = 8
    mixed_group_weight: float = 0.5
    word_scope: str = "all"
    proto_weight: float = 0.3
    proto_temperature: float = 1.0
    iso_weight: float = 1.0
    iso_db_per_unit: float = 2.0
    jitter_unit: float = 0.03
    n_threads: int = 1

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ParameterError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_real < 2 or self.batch_synthetic < 0:
            raise ParameterError("batch_real must be at least 2 and batch_synthetic at least 0")
        if not self.learning_rate > 0:
            raise ParameterError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.word_scope not in ("all", "train"):
            raise ParameterError(f"word_scope must be 'all' or 'train', got {self.word_scope!r}")
        if self.audealize_weighting not in ("sqrt_count", "count", "equal"):
            raise ParameterError(f"audealize_weighting must be sqrt_count, count or equal, got {self.audealize_weighting!r}")
        object.__setattr__(self, "split_fractions", tuple(float(x) for x in self.split_fractions))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["split_fractions"] = list(self.split_fractions)
        return d


@dataclass(frozen=True, kw_only=True)
class AudioTrainConfig:
    """Settings of one audio-encoder training run, stored in the checkpoint JSON.

    Attributes
    ----------
    epochs, batch_size, learning_rate, weight_decay, seed :
        AdamW with a one-cycle schedule; ``seed`` seeds torch and the numpy generator.
    n_train_pairs, n_val_pairs : int
        (source, setting) examples drawn for training and for checkpoint selection.
    crop_hop_s : float
        Hop between the 2 s crops of the development clips.
    holdout_clips : tuple of str
        Development clips never used (not for training, not for choosing the best epoch).
    n_pink_sources, n_shaped_sources : int
        Synthetic sources: pink noise, and noise at the reference balance plus a random
        smooth deviation.
    random_setting_fraction, flat_fraction : float
        Share of random settings among the settings, and of examples given the flat EQ.
    contrastive_weight, temperature : float
        Weight and temperature of the supervised contrastive term on the change of latent.
    curve_weight : float
        Weight of the curve term: MSE, in units of (5 dB)^2, between the response of the decoded
        latent (frozen VAE decoder, differentiable response) and the target EQ's response over
        100 Hz-12 kHz. It makes the loss care about what a latent sounds like, not its coordinates.
    short_crop_fraction, min_crop_frames : float, int
        Share of batches cut to a shorter crop, and the shortest crop in STFT frames.
    level_db_low, noise_floor_db : float
        Random level range (dB, up to 0) and the noise floor added to every example.
    fit_steps, fit_starts : int
        Effort of the batched 5-band fits of the targets.
    n_threads : int
        torch CPU threads.
    corpus_crops_per_track : int
        Real-music crops (2 s) taken from each track of the corpus's train packages (0: no corpus;
        the development clips are the music then). Each crop gives a stereo and a mono view.
    corpus_val_crops_per_track : int
        Crops from each validation-package track, used for checkpoint selection only.
    use_dev_clips : bool
        Keep the development clips (minus ``holdout_clips``) as training music.
    """

    epochs: int = 16
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
    curve_weight: float = 1.0
    temperature: float = 0.2
    short_crop_fraction: float = 0.3
    min_crop_frames: int = 24
    level_db_low: float = -40.0
    noise_floor_db: float = -100.0
    fit_steps: int = 30
    fit_starts: int = 2
    n_threads: int = 2
    corpus_crops_per_track: int = 0
    corpus_val_crops_per_track: int = 0
    use_dev_clips: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ParameterError(f"epochs must be >= 1 and batch_size >= 2, got {self.epochs}, {self.batch_size}")
        if self.n_train_pairs < self.batch_size or self.n_val_pairs < 1:
            raise ParameterError("n_train_pairs must be >= batch_size and n_val_pairs >= 1")
        if self.corpus_crops_per_track < 0 or self.corpus_val_crops_per_track < 0:
            raise ParameterError("corpus_crops_per_track and corpus_val_crops_per_track must be >= 0")
        if not self.use_dev_clips and self.corpus_crops_per_track == 0:
            raise ParameterError("with use_dev_clips=False the corpus must give crops (corpus_crops_per_track >= 1)")

    @property
    def uses_corpus(self) -> bool:
        return self.corpus_crops_per_track > 0

    def to_dict(self) -> dict:
        """The JSON form. The corpus fields appear only when the corpus is used, so a run
        without it records exactly what runs recorded before the corpus existed."""
        d = asdict(self)
        if not self.uses_corpus:
            for f in fields(self):
                if f.name in _CORPUS_FIELDS:
                    d.pop(f.name)
        return d


_CORPUS_FIELDS = ("corpus_crops_per_track", "corpus_val_crops_per_track", "use_dev_clips")
