"""``AudioEncoder``: where a recording stands, as a point in the EQ model's latent space.

The latent of a recording is the EQ model's latent of the 5-band EQ that turns the reference
balance (the long-term average spectrum of the training music, see :mod:`semeq.analysis`) into
the recording's balance. Decoding it with :meth:`semeq.EQModel.decode` gives that EQ; a
recording at the reference balance gives the flat EQ's latent.

Long files
----------
Audio is resampled to 44.1 kHz and split into 2 s windows (non-overlapping, the last one
aligned to the end of the file; a file shorter than 2 s is one shorter window). Each window is
level-normalised on its own and run through the CNN up to the time pooling; the pooled
features of the windows are averaged, each weighted by its number of active frames (silent
windows count zero), and the average goes through the projection once. This approximates
pooling over the whole file (each window is normalised on its own and the last one may
overlap), so a long steady recording and any 2 s of it agree closely, not exactly.

Neutral answer
--------------
Audio without usable energy (silence, pure DC, a single click or under ~93 ms of sound: the
rule of :func:`semeq.analysis.has_usable_energy`) has no balance; :meth:`AudioEncoder.encode`
returns the flat EQ's latent (:attr:`AudioEncoder.neutral_latent`) for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .analysis import MIN_ACTIVE_FRAMES, active_frames, prepare_audio

__all__ = ["AudioEncoder", "DEFAULT_WEIGHTS"]

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "audio_encoder"
"""Stem of the shipped weights (``.safetensors`` + ``.json``)."""

_BATCH_WINDOWS = 32


class AudioEncoder:
    """The trained audio encoder. Build with :meth:`load`.

    Attributes
    ----------
    net : semeq.nn.audio_encoder.AudioEncoderNet
        The torch module (eval mode).
    reference_db : ndarray [shape=(60,)]
        Reference balance on :data:`semeq.analysis.GRID_FREQS_HZ`.
    neutral_latent : ndarray [shape=(latent_dim,)]
        The flat EQ's latent, the answer for audio without usable energy.
    meta : dict
        The checkpoint's JSON (configs, training metrics).
    """

    def __init__(self, net, meta: dict) -> None:
        self.net = net.eval()
        self.meta = meta
        self.reference_db = np.asarray(meta["reference"]["spectrum_db"], dtype=np.float64)
        self.neutral_latent = np.asarray(meta["neutral_latent"], dtype=np.float64)

    @classmethod
    def load(cls, path: str | Path | None = None) -> AudioEncoder:
        """Load weights: ``path`` is the ``.safetensors`` or ``.json`` file, their common stem, or a
        folder holding ``audio_encoder.*``; default the shipped ``weights/audio_encoder``."""
        from .nn.audio_encoder import load_encoder_checkpoint

        stem = Path(path) if path is not None else DEFAULT_WEIGHTS
        if stem.is_dir():
            stem = stem / "audio_encoder"
        elif stem.suffix in (".safetensors", ".json"):
            stem = stem.with_suffix("")
        net, meta = load_encoder_checkpoint(stem)
        return cls(net, meta)

    @property
    def latent_dim(self) -> int:
        return int(self.net.config.latent_dim)

    @property
    def window_samples(self) -> int:
        return int(self.net.config.window_samples)

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
        import torch

        prepared = prepare_audio(audio, sample_rate)  # validates, resamples, removes DC
        active = active_frames(prepared)
        if int(active.sum()) < MIN_ACTIVE_FRAMES:
            return self.neutral_latent.copy()
        starts = self._window_starts(prepared.shape[1])
        hop = 512
        weights = []
        for s in starts:
            first, last = s // hop, (s + self.window_samples) // hop
            weights.append(float(active[first:last].sum()))
        weights = np.asarray(weights)
        keep = weights > 0
        starts = [s for s, k in zip(starts, keep) if k]
        weights = weights[keep]
        length = min(self.window_samples, prepared.shape[1])
        features = []
        with torch.inference_mode():
            x = torch.as_tensor(prepared, dtype=torch.float32)
            for i in range(0, len(starts), _BATCH_WINDOWS):
                batch = torch.stack([x[:, s:s + length] for s in starts[i:i + _BATCH_WINDOWS]])  # (B, C, length)
                features.append(self.net.pooled(self.net.front_end(batch)))
            pooled = torch.cat(features)  # (n_windows, F)
            w = torch.as_tensor(weights / weights.sum(), dtype=torch.float32)
            latent = self.net.project((w[:, None] * pooled).sum(dim=0, keepdim=True))[0]
        return latent.double().numpy()

    def _window_starts(self, n_samples: int) -> list[int]:
        window = self.window_samples
        if n_samples <= window:
            return [0]
        starts = list(range(0, n_samples - window + 1, window))
        if starts[-1] + window < n_samples:
            starts.append(n_samples - window)
        return starts

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.net.parameters())
        return f"AudioEncoder(latent_dim={self.latent_dim}, parameters={n}, window_s={self.net.config.window_s})"
