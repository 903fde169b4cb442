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
``MSE(z_audio, z_target) + contrastive_weight * SupCon + curve_weight * curve``, where the
supervised contrastive term (Khosla et al., 2020) acts on the change of latent
``z_audio - z_source`` of examples whose setting carries a word (same word close, different
words apart), and the curve term compares the response of the decoded latent with the target
EQ's response (see :attr:`AudioTrainConfig.curve_weight`). The EQ model is frozen.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
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
    """Weight of the curve term: MSE, in units of (5 dB)^2, between the response of the decoded
    latent (frozen VAE decoder, differentiable response) and the target EQ's response over
    100 Hz-12 kHz. It makes the loss care about what a latent sounds like, not its coordinates."""
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
    from ..params import GAIN_INDICES, PARAMETERS, values_from_unit

    u = rng.uniform(size=(n, len(PARAMETERS)))
    v = values_from_unit(u)
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


# --------------------------------------------------------------------------------------------
# The loop.


def _batch_log_mel(net, sources: Sources, src_idx: np.ndarray, gains: "torch.Tensor", rng: np.random.Generator,
                   config: AudioTrainConfig, augment: bool) -> "torch.Tensor":
    """Spectral-domain synthesis: cached power x EQ power gain x level + floor -> log-mel."""
    import torch

    power = sources.power[torch.as_tensor(src_idx)] * gains[:, :, None]  # (B, n_bins, n_frames)
    n_frames = power.shape[2]
    if augment:
        level = torch.as_tensor(10.0 ** (rng.uniform(config.level_db_low, 0.0, size=(len(src_idx), 1, 1)) / 10.0),
                                dtype=power.dtype)
        power = power * level
        if rng.uniform() < config.short_crop_fraction:
            length = int(rng.integers(config.min_crop_frames, n_frames))
            start = int(rng.integers(0, n_frames - length + 1))
            power = power[:, :, start:start + length]
    window_energy = float((net.front_end.window**2).sum())
    floor = 10.0 ** (config.noise_floor_db / 10.0) * window_energy
    return net.front_end.from_power(power + floor)


def _curve_mae(eq_model, z_a: np.ndarray, z_b: np.ndarray, mask: np.ndarray) -> float:
    from ..fitting import response_db_batch

    ca = response_db_batch(eq_model.decode_batch(z_a), GRID_FREQS_HZ)
    cb = response_db_batch(eq_model.decode_batch(z_b), GRID_FREQS_HZ)
    return float(np.mean(np.abs(ca - cb)[:, mask]))


def train_audio_encoder(data_root: Path, out_dir: Path, config: AudioTrainConfig | None = None,
                        encoder_config=None, eq_model=None, show_progress: bool = True, log=print) -> dict:
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
        The frozen EQ model (default: the shipped one).

    Returns
    -------
    summary : dict
        Per-epoch metrics and the best epoch.
    """
    import torch
    from tqdm import tqdm

    from ..eq_model import EQModel
    from ..fitting import response_db_batch
    from ..nn.audio_encoder import AudioEncoderNet, EncoderConfig
    from ..nn.audio_encoder import save_encoder_checkpoint as save_checkpoint
    from .audio_settings import load_settings

    config = config or AudioTrainConfig()
    encoder_config = encoder_config or EncoderConfig()
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
    sources = build_sources(clips, reference_db, config, net.front_end, rng, config.n_pink_sources, config.n_shaped_sources)
    train_src = np.flatnonzero(~np.isin(sources.clip, list(config.holdout_clips)))
    val_src = train_src  # the held-out clips choose nothing, not even the best epoch
    log(f"sources: {len(train_src)} train, {len(sources)} in all ({np.sum(sources.kind == 'music')} music crops); "
        f"{time.perf_counter() - t_start:.0f} s")

    train_set, val_set = load_settings(data_root, rng, config)
    log(f"settings: {len(train_set.params)} train, {len(val_set.params)} validation")

    def make_pairs(src_pool, settings, n):
        s = rng.choice(src_pool, size=n)
        e = rng.integers(0, len(settings.params), size=n)
        params = settings.params[e].copy()
        word = settings.word[e].copy()
        flat = rng.uniform(size=n) < config.flat_fraction
        params[flat] = eq_model_flat
        word[flat] = -1
        return s, params, word

    from ..params import EQParams

    eq_model_flat = EQParams.flat().to_vector()
    tr_src, tr_params, tr_word = make_pairs(train_src, train_set, config.n_train_pairs)
    va_src, va_params, va_word = make_pairs(val_src, val_set, config.n_val_pairs)

    # Targets: fit(B_s + H_E) for every pair, fit(B_s) for every source.
    curves = np.concatenate([
        sources.balance_db[tr_src] + response_db_batch(tr_params, GRID_FREQS_HZ),
        sources.balance_db[va_src] + response_db_batch(va_params, GRID_FREQS_HZ),
        sources.balance_db,
    ])
    with tqdm(total=len(curves), desc="fitting targets", unit="curve", disable=not show_progress) as bar:
        fitted = fit_targets(curves, config, progress=bar)
    z_all = eq_model.encode(fitted)
    n_tr, n_va = len(tr_src), len(va_src)
    z_tr, z_va, z_src = z_all[:n_tr], z_all[n_tr:n_tr + n_va], z_all[n_tr + n_va:]
    log(f"targets: {len(curves)} fits; {time.perf_counter() - t_start:.0f} s")

    latent_scale = float(np.ceil(11.0 * np.abs(z_all).max()) / 10.0)
    encoder_config = EncoderConfig.from_dict({**encoder_config.to_dict(), "latent_scale": latent_scale})
    net = AudioEncoderNet(encoder_config)
    neutral = eq_model.encode(eq_model_flat[None])[0]

    bins_hz = np.arange(encoder_config.mel.n_bins) * ANALYSIS_SAMPLE_RATE / encoder_config.mel.n_fft
    with torch.no_grad():
        g_tr = torch.cat([spectral_bin_gains_chunk(tr_params[i:i + 2048], bins_hz) for i in range(0, n_tr, 2048)])
        g_va = torch.cat([spectral_bin_gains_chunk(va_params[i:i + 2048], bins_hz) for i in range(0, n_va, 2048)])
    from ..nn.response import eq_response_db, unit_to_physical

    curve_band = (GRID_FREQS_HZ >= 100.0) & (GRID_FREQS_HZ <= 12000.0)
    curve_freqs = torch.as_tensor(GRID_FREQS_HZ[curve_band], dtype=torch.float32)
    c_tr_t = torch.as_tensor(response_db_batch(fitted[:n_tr], GRID_FREQS_HZ[curve_band]), dtype=torch.float32)
    vae = eq_model.vae

    def decoded_curve(z):
        return eq_response_db(unit_to_physical(vae.decode_unit(z).clamp(0.0, 1.0)), curve_freqs, ANALYSIS_SAMPLE_RATE)

    z_tr_t = torch.as_tensor(z_tr, dtype=torch.float32)
    z_src_t = torch.as_tensor(z_src, dtype=torch.float32)
    word_tr_t = torch.as_tensor(tr_word)

    optimiser = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = n_tr // config.batch_size
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.learning_rate,
                                                    total_steps=config.epochs * steps_per_epoch, pct_start=0.15)
    eval_band = (GRID_FREQS_HZ >= 100.0) & (GRID_FREQS_HZ <= 12000.0)
    history, best = [], None
    for epoch in range(1, config.epochs + 1):
        net.train()
        order = rng.permutation(n_tr)
        sums = {"mse": 0.0, "contrastive": 0.0, "curve": 0.0}
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{config.epochs}", unit="batch", disable=not show_progress)
        for step in bar:
            idx = order[step * config.batch_size:(step + 1) * config.batch_size]
            log_mel = _batch_log_mel(net, sources, tr_src[idx], g_tr[idx], rng, config, augment=True)
            z = net.forward_log_mel(log_mel)
            mse = torch.mean((z - z_tr_t[idx]) ** 2)
            con = supcon_loss(z - z_src_t[torch.as_tensor(tr_src[idx])], word_tr_t[idx], config.temperature)
            loss = mse + config.contrastive_weight * con
            if config.curve_weight > 0:
                curve = torch.mean((decoded_curve(z) - c_tr_t[idx]) ** 2) / 25.0
                loss = loss + config.curve_weight * curve
                sums["curve"] += float(curve)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            sums["mse"] += float(mse)
            sums["contrastive"] += float(con)
            bar.set_postfix(mse=f"{sums['mse'] / (step + 1):.4f}", con=f"{sums['contrastive'] / (step + 1):.3f}")
        bar.close()
        net.eval()
        with torch.no_grad():
            z_pred = torch.cat([
                net.forward_log_mel(_batch_log_mel(net, sources, va_src[i:i + 256], g_va[i:i + 256], rng, config, augment=False))
                for i in range(0, n_va, 256)
            ]).numpy()
        val_mse = float(np.mean((z_pred - z_va) ** 2))
        record = {
            "epoch": epoch,
            "train_mse": sums["mse"] / steps_per_epoch,
            "train_contrastive": sums["contrastive"] / steps_per_epoch,
            "train_curve": sums["curve"] / steps_per_epoch,
            "val_mse": val_mse,
            "val_curve_mae_db": _curve_mae(eq_model, z_pred, z_va, eval_band),
            "elapsed_s": time.perf_counter() - t_start,
        }
        history.append(record)
        log(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        if best is None or val_mse < best["val_mse"]:
            best = record
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
                "eq_model_sha256": _sha256(getattr(eq_model, "path", None)),
                "best": best,
            }
            save_checkpoint(Path(out_dir) / "audio_encoder", net.state_dict(), meta)
    return {"history": history, "best": best, "elapsed_s": time.perf_counter() - t_start}


def _sha256(path) -> str | None:
    """SHA-256 of the EQ model's weights file: the latents are only meaningful with that model."""
    import hashlib

    if path is None or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def spectral_bin_gains_chunk(params: np.ndarray, bins_hz: np.ndarray) -> "torch.Tensor":
    """float32 power gains (n, n_bins) of settings (n, 13), computed in float64."""
    import torch

    from ..data.synth import spectral_bin_gains

    return spectral_bin_gains(torch.as_tensor(params, dtype=torch.float64), bins_hz, ANALYSIS_SAMPLE_RATE).float()
