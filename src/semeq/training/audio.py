"""Training of the audio encoder (``semeq train audio``).

Data
----
Sources are 2 s crops cached as STFT power (and as a balance on the analysis grid): crops of
the training music, each as a stereo power mix and a mono downmix; pink noise; and
music-shaped noise (:mod:`.audio_data`). The training music is the development clips
(``music-dev`` minus ``holdout_clips``) and, with ``corpus_crops_per_track > 0``, random crops of
the corpus's *train*-package tracks; crops of its *validation*-package tracks then choose the
best epoch (the test packages are never read). EQ settings are SAFE-DB rows split as the frozen
EQ model's stored split, Audealize word curves fitted to the 5-band EQ, random settings and the
flat EQ (:mod:`.settings`).

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
``MSE(z_audio, z_target) + contrastive_weight * SupCon + curve_weight * curve``
(:func:`.audio_loop.train_epochs`). The EQ model is frozen.

Random draws, in this order (what makes a seeded run repeat): the network's first
initialisation (torch), the corpus crops, the noise sources, the random settings (train, then
validation), the pairs (train, then validation), the network's second initialisation, then
per step the level and crop augmentation.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..analysis import ANALYSIS_SAMPLE_RATE, GRID_FREQS_HZ
from ..errors import DataError, ParameterError
from .audio_data import MusicTrack, build_sources, corpus_crops, load_clips, read_music_manifest, reference_from_clips
from .audio_loop import TrainTensors, bin_gains, fit_targets, make_pairs, train_epochs
from .checkpoints import save_encoder_checkpoint, sha256_of_file
from .config import AudioTrainConfig
from .settings import load_settings

__all__ = ["AudioTrainConfig", "train_audio_encoder", "MusicCorpus"]


class MusicCorpus:
    """A corpus manifest and its audio cache: the train and validation tracks the encoder may use."""

    def __init__(self, manifest: str | Path, cache_dir: str | Path) -> None:
        self.manifest = Path(manifest)
        self.cache_dir = Path(cache_dir)
        self.tracks: list[MusicTrack] = read_music_manifest(self.manifest, self.cache_dir)

    def split(self, name: str) -> list[MusicTrack]:
        return [t for t in self.tracks if t.split == name]

    def describe(self) -> dict:
        """What the checkpoint records of the corpus (never the test packages' audio)."""
        return {
            "manifest_sha256": sha256_of_file(self.manifest),
            **{f"{s}_packages": sorted({t.package for t in self.split(s)}) for s in ("train", "validation")},
            **{f"n_{s}_tracks": len(self.split(s)) for s in ("train", "validation")},
        }


def train_audio_encoder(data_root: Path, out_dir: Path, config: AudioTrainConfig | None = None,
                        encoder_config=None, eq_model=None, show_progress: bool = True, log: Callable[[str], None] = print,
                        corpus: MusicCorpus | None = None) -> dict:
    """Train the audio encoder and write ``audio_encoder.safetensors`` + ``.json`` to ``out_dir``.

    Parameters
    ----------
    data_root : Path
        Folder holding ``music-dev/``, ``safe-db/`` and ``audealize/``.
    out_dir : Path
        Where the best checkpoint (by validation loss) is written, atomically.
    config : AudioTrainConfig, optional
    encoder_config : EncoderConfig, optional
    eq_model : EQModel, optional
        The frozen EQ model (default: the shipped one). Its stored SAFE split is the encoder's.
    corpus : MusicCorpus, optional
        Needed when ``config.corpus_crops_per_track > 0``.

    Returns
    -------
    summary : dict
        Per-epoch metrics, the best epoch and the elapsed time.
    """
    import torch
    from tqdm import tqdm

    from ..eq_model import EQModel
    from ..fitting import response_db_batch
    from ..nn.audio_encoder import AudioEncoderNet, EncoderConfig
    from ..params import EQParams

    config = config or AudioTrainConfig()
    encoder_config = encoder_config or EncoderConfig()
    if config.uses_corpus and corpus is None:
        raise ParameterError("corpus_crops_per_track > 0 needs a music corpus (--music-manifest and --music-cache)")
    t_start = time.perf_counter()
    torch.set_num_threads(config.n_threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    eq_model = eq_model or EQModel.load()

    clips = load_clips(data_root)
    unknown = set(config.holdout_clips) - set(clips)
    if unknown:
        raise ParameterError(f"holdout_clips not in music-dev: {sorted(unknown)}")
    train_clips = {k: v for k, v in clips.items() if k not in config.holdout_clips}
    reference_db = reference_from_clips(train_clips)

    net = AudioEncoderNet(encoder_config)
    extra = None
    if config.uses_corpus:
        tr_crops, tr_names = corpus_crops(corpus.split("train"), config.corpus_crops_per_track, rng, log)
        va_crops, va_names = corpus_crops(corpus.split("validation"), config.corpus_val_crops_per_track, rng, log)
        if not tr_crops:
            raise DataError(f"{corpus.manifest}: no readable train-package track in {corpus.cache_dir}")
        extra = (tr_crops + va_crops, tr_names + ["val:" + n for n in va_names])
    sources = build_sources(clips if config.use_dev_clips else {}, reference_db, config, net.front_end, rng,
                            config.n_pink_sources, config.n_shaped_sources, extra_music=extra)
    is_val = np.char.startswith(sources.clip.astype(str), "val:")
    train_src = np.flatnonzero(~np.isin(sources.clip, list(config.holdout_clips)) & ~is_val)
    # The held-out clips choose nothing, not even the best epoch; the corpus's validation packages do.
    val_src = np.flatnonzero(is_val) if np.any(is_val) else train_src
    log(f"sources: {len(train_src)} train, {len(val_src)} validation, {len(sources)} in all "
        f"({np.sum(sources.kind == 'music')} music views); {time.perf_counter() - t_start:.0f} s")

    train_set, val_set = load_settings(data_root, rng, config, eq_model)
    log(f"settings: {len(train_set.params)} train, {len(val_set.params)} validation")
    tr = make_pairs(train_src, train_set, config.n_train_pairs, config.flat_fraction, rng)
    va = make_pairs(val_src, val_set, config.n_val_pairs, config.flat_fraction, rng)

    # Targets: fit(B_s + H_E) for every pair, fit(B_s) for every source.
    curves = np.concatenate([
        sources.balance_db[tr.source] + response_db_batch(tr.params, GRID_FREQS_HZ),
        sources.balance_db[va.source] + response_db_batch(va.params, GRID_FREQS_HZ),
        sources.balance_db,
    ])
    with tqdm(total=len(curves), desc="fitting targets", unit="curve", disable=not show_progress) as bar:
        fitted = fit_targets(curves, config, progress=bar)
    z_all = eq_model.encode(fitted)
    n_tr, n_va = len(tr), len(va)
    log(f"targets: {len(curves)} fits; {time.perf_counter() - t_start:.0f} s")

    latent_scale = float(np.ceil(11.0 * np.abs(z_all).max()) / 10.0)
    encoder_config = EncoderConfig.from_dict({**encoder_config.to_dict(), "latent_scale": latent_scale})
    net = AudioEncoderNet(encoder_config)
    neutral = eq_model.encode(EQParams.flat().to_vector()[None])[0]
    bins_hz = np.arange(encoder_config.mel.n_bins) * ANALYSIS_SAMPLE_RATE / encoder_config.mel.n_fft
    data = TrainTensors(sources=sources, train=tr, val=va, z_train=z_all[:n_tr], z_val=z_all[n_tr:n_tr + n_va],
                        z_source=z_all[n_tr + n_va:], fitted_train=fitted[:n_tr],
                        gains_train=bin_gains(tr.params, bins_hz), gains_val=bin_gains(va.params, bins_hz))

    def write(best: dict) -> None:
        meta = {
            "format": "semeq-audio-encoder",
            "version": 1,
            "encoder_config": encoder_config.to_dict(),
            "train_config": config.to_dict(),
            "reference": {
                "freqs_hz": GRID_FREQS_HZ.tolist(),
                "spectrum_db": reference_db.tolist(),
                "definition": "mean level-normalised LTAS of the training music clips (semeq.analysis)",
                "clips": sorted(train_clips),
            },
            "neutral_latent": neutral.tolist(),
            "eq_model_latent_dim": int(eq_model.latent_dim),
            "eq_model_sha256": sha256_of_file(getattr(eq_model, "path", None)),
            "best": best,
        }
        if corpus is not None and config.uses_corpus:
            meta["corpus"] = corpus.describe()
        save_encoder_checkpoint(Path(out_dir) / "audio_encoder", net.state_dict(), meta)

    history, best = train_epochs(net, eq_model, data, config, rng, show_progress=show_progress, log=log, on_best=write,
                                 t_start=t_start)
    return {"history": history, "best": best, "elapsed_s": time.perf_counter() - t_start}
