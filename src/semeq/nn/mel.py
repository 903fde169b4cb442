"""Log-mel front end: STFT power, channels mixed by power, a mel filterbank built once.

The filterbank and the window are computed with NumPy at construction and registered as
buffers (auraloss's pattern); ``forward`` is torch only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..errors import ParameterError

__all__ = ["MelConfig", "LogMel", "mel_filterbank"]


@dataclass(frozen=True, kw_only=True)
class MelConfig:
    """Front-end settings, stored in the encoder checkpoint."""

    sample_rate: float = 44100.0
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 64
    f_min_hz: float = 20.0
    f_max_hz: float = 20000.0
    floor_db: float = -80.0
    """Power floor relative to the window's mean mel power (keeps log finite, level-free)."""

    def __post_init__(self) -> None:
        if self.n_fft < 16 or self.n_fft & (self.n_fft - 1):
            raise ParameterError(f"n_fft must be a power of two >= 16, got {self.n_fft}")
        if not 0 < self.hop_length <= self.n_fft:
            raise ParameterError(f"hop_length must be in [1, n_fft={self.n_fft}], got {self.hop_length}")
        if not 0 <= self.f_min_hz < self.f_max_hz <= self.sample_rate / 2:
            raise ParameterError(f"need 0 <= f_min_hz < f_max_hz <= sample_rate/2, got {self.f_min_hz}, {self.f_max_hz}")

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def to_dict(self) -> dict:
        return asdict(self)


def _hz_to_mel(freq_hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(freq_hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(config: MelConfig) -> tuple[np.ndarray, np.ndarray]:
    """Triangular HTK-mel filterbank.

    Returns
    -------
    weights : ndarray [shape=(n_bins, n_mels)]
        Area-normalised triangles (each column sums to 1 over the FFT bins), so a mel band holds
        the mean power density of its bins and a white spectrum is flat across bands.
    centres_hz : ndarray [shape=(n_mels,)]
    """
    bins_hz = np.arange(config.n_bins) * config.sample_rate / config.n_fft
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(config.f_min_hz), _hz_to_mel(config.f_max_hz), config.n_mels + 2))
    lower, centre, upper = edges_hz[:-2], edges_hz[1:-1], edges_hz[2:]
    rising = (bins_hz[:, None] - lower) / (centre - lower)  # (n_bins, n_mels)
    falling = (upper - bins_hz[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    # Narrow low bands can fall between FFT bins: give each at least its nearest bin.
    empty = weights.sum(axis=0) <= 0
    for m in np.flatnonzero(empty):
        weights[np.argmin(np.abs(bins_hz - centre[m])), m] = 1.0
    weights /= weights.sum(axis=0, keepdims=True)
    return weights, centre


class LogMel(nn.Module):
    """Audio -> level-normalised log-mel spectrogram.

    Channels are mixed by power (the mean of the channels' STFT power), so mono and a stereo file
    with two identical channels give the same output. Each window is divided by its mean mel
    power before the log, so a gain change leaves the output unchanged (up to the floor).

    Parameters
    ----------
    config : MelConfig
    """

    def __init__(self, config: MelConfig | None = None) -> None:
        super().__init__()
        self.config = config or MelConfig()
        weights, centres_hz = mel_filterbank(self.config)
        self.register_buffer("filterbank", torch.tensor(weights, dtype=torch.float32), persistent=False)
        self.register_buffer("window", torch.hann_window(self.config.n_fft, periodic=True), persistent=False)
        self.centres_hz = centres_hz

    def power(self, audio: torch.Tensor) -> torch.Tensor:
        """STFT power mixed over channels.

        Parameters
        ----------
        audio : Tensor [shape=(batch, channels, samples)]

        Returns
        -------
        power : Tensor [shape=(batch, n_bins, n_frames)]
        """
        batch, channels, n_samples = audio.shape
        spec = torch.stft(audio.reshape(batch * channels, n_samples), self.config.n_fft, self.config.hop_length,
                          window=self.window, center=True, pad_mode="constant", return_complex=True)
        power = spec.real**2 + spec.imag**2  # (batch * channels, n_bins, n_frames)
        return power.reshape(batch, channels, *power.shape[1:]).mean(dim=1)

    def from_power(self, power: torch.Tensor) -> torch.Tensor:
        """Level-normalised log-mel from STFT power.

        Parameters
        ----------
        power : Tensor [shape=(batch, n_bins, n_frames)]

        Returns
        -------
        log_mel_db : Tensor [shape=(batch, n_mels, n_frames)]
            dB relative to the window's mean mel power, floored at ``config.floor_db``.
        """
        mel = torch.einsum("bkt,km->bmt", power, self.filterbank)  # (batch, n_mels, n_frames)
        ref = mel.mean(dim=(1, 2), keepdim=True).clamp_min(1e-30)
        floor = 10.0 ** (self.config.floor_db / 10.0)
        return 10.0 * torch.log10(mel / ref + floor)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (batch, channels, samples) -> log-mel dB (batch, n_mels, n_frames)."""
        return self.from_power(self.power(audio))
