"""Log-mel front end in torch, for training: the twin of :class:`semeq.frontend.LogMel`.

The configuration and the filterbank are :mod:`semeq.frontend`'s (declared once); here they are
registered as buffers (auraloss's pattern) and ``forward`` is torch only.
"""

from __future__ import annotations

import torch
from torch import nn

from ..frontend import MelConfig, mel_filterbank

__all__ = ["MelConfig", "LogMel", "mel_filterbank"]


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
