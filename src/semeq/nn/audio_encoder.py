"""The audio encoder network: log-mel -> depthwise-separable CNN -> 32-D tanh latent.

MobileNet-style (Howard et al., 2017, "MobileNets"): a 3x3 stem, then blocks of a 3x3
depthwise convolution and a 1x1 pointwise convolution, each followed by batch norm and ReLU6.
Pooling is a global average over *time*; the (few) frequency rows left after striding are kept
and flattened into the projection, together with the time-mean of the log-mel itself (a skip
connection carrying the long-term balance), because where in frequency the energy sits is the whole
point of the task and a full global average would throw the position away. A constant
frequency-coordinate channel is stacked on the log-mel input for the same reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..errors import ParameterError
from ..frontend import WINDOW_S
from .mel import LogMel, MelConfig

__all__ = ["EncoderConfig", "AudioEncoderNet", "load_encoder_checkpoint"]


@dataclass(frozen=True, kw_only=True)
class EncoderConfig:
    """Architecture of :class:`AudioEncoderNet`, stored in the checkpoint JSON."""

    mel: MelConfig = field(default_factory=MelConfig)
    stem_channels: int = 16
    channels: tuple[int, ...] = (32, 48, 64, 96)
    strides: tuple[tuple[int, int], ...] = ((1, 2), (2, 2), (1, 2), (2, 2))
    """(frequency, time) stride of each block, after the (2, 2) stem."""
    hidden: int = 192
    spectrum_skip: bool = True
    """Concatenate the time-mean of the log-mel (n_mels values) to the pooled CNN features: the
    long-term balance the latent is defined by, handed to the projection directly."""
    latent_dim: int = 32
    latent_scale: float = 3.0
    """The latent is ``latent_scale * tanh(.)``: tanh bounded, scaled to cover the VAE's range."""
    window_s: float = WINDOW_S

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.strides):
            raise ParameterError(f"channels ({len(self.channels)}) and strides ({len(self.strides)}) differ in length")
        if self.latent_dim < 1 or self.latent_scale <= 0:
            raise ParameterError("latent_dim must be >= 1 and latent_scale > 0")
        if self.window_s <= 0:
            raise ParameterError(f"window_s must be > 0, got {self.window_s}")

    @property
    def n_freq_rows(self) -> int:
        rows = (self.mel.n_mels + 1) // 2
        for f_stride, _ in self.strides:
            rows = (rows + f_stride - 1) // f_stride
        return rows

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.mel.sample_rate))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EncoderConfig:
        d = dict(d)
        d["mel"] = MelConfig(**d["mel"])
        d["channels"] = tuple(d["channels"])
        d["strides"] = tuple(tuple(s) for s in d["strides"])
        return cls(**d)


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: tuple[int, int] | int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU6(inplace=True),
    )


class DepthwiseSeparable(nn.Sequential):
    """3x3 depthwise then 1x1 pointwise convolution (MobileNet v1 block)."""

    def __init__(self, c_in: int, c_out: int, stride: tuple[int, int]) -> None:
        super().__init__(_conv_bn(c_in, c_in, 3, stride, groups=c_in), _conv_bn(c_in, c_out, 1, 1))


class AudioEncoderNet(nn.Module):
    """Log-mel CNN mapping audio windows to the EQ model's latent space.

    Parameters
    ----------
    config : EncoderConfig
    """

    def __init__(self, config: EncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or EncoderConfig()
        c = self.config
        self.front_end = LogMel(c.mel)
        coord = torch.linspace(-1.0, 1.0, c.mel.n_mels).reshape(1, 1, c.mel.n_mels, 1)
        self.register_buffer("freq_coord", coord, persistent=False)
        layers: list[nn.Module] = [_conv_bn(2, c.stem_channels, 3, (2, 2))]
        c_in = c.stem_channels
        for c_out, stride in zip(c.channels, c.strides):
            layers.append(DepthwiseSeparable(c_in, c_out, stride))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        n_features = c_in * c.n_freq_rows + (c.mel.n_mels if c.spectrum_skip else 0)
        self.head = nn.Sequential(
            nn.Linear(n_features, c.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(c.hidden, c.latent_dim),
        )

    def pooled(self, log_mel_db: torch.Tensor) -> torch.Tensor:
        """Time-pooled features.

        Parameters
        ----------
        log_mel_db : Tensor [shape=(batch, n_mels, n_frames)]

        Returns
        -------
        features : Tensor [shape=(batch, channels * n_freq_rows [+ n_mels])]
        """
        x = log_mel_db.unsqueeze(1) / 20.0  # (batch, 1, n_mels, n_frames), roughly unit scale
        x_in = torch.cat([x, self.freq_coord.expand(x.shape[0], 1, x.shape[2], x.shape[3])], dim=1)
        h = self.features(x_in)  # (batch, channels, n_freq_rows, n_frames')
        pooled = h.mean(dim=3).flatten(1)
        if self.config.spectrum_skip:
            pooled = torch.cat([pooled, x[:, 0].mean(dim=2)], dim=1)  # + (batch, n_mels)
        return pooled

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """Pooled features (batch, F) -> latent (batch, latent_dim), ``latent_scale * tanh``."""
        return self.config.latent_scale * torch.tanh(self.head(features))

    def forward_log_mel(self, log_mel_db: torch.Tensor) -> torch.Tensor:
        """log-mel (batch, n_mels, n_frames) -> latent (batch, latent_dim)."""
        return self.project(self.pooled(log_mel_db))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (batch, channels, samples) at ``config.mel.sample_rate`` -> latent (batch, latent_dim)."""
        return self.forward_log_mel(self.front_end(audio))


def load_encoder_checkpoint(stem) -> tuple[AudioEncoderNet, dict]:
    """Rebuild an :class:`AudioEncoderNet` (eval mode) and its metadata from ``stem.*``."""
    import json
    from pathlib import Path

    from safetensors.torch import load_file

    from ..errors import DataError

    from safetensors import SafetensorError

    stem = Path(stem)
    try:
        meta = json.loads(stem.with_suffix(".json").read_text())
        state = load_file(str(stem.with_suffix(".safetensors")))
    except (OSError, ValueError, SafetensorError) as exc:
        raise DataError(f"cannot read audio-encoder weights {stem}.safetensors/.json: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != "semeq-audio-encoder":
        raise DataError(f"{stem}.json is not a semeq audio-encoder checkpoint")
    try:
        net = AudioEncoderNet(EncoderConfig.from_dict(meta["encoder_config"]))
        net.load_state_dict(state)
        meta["reference"]["spectrum_db"], meta["neutral_latent"]  # noqa: B018 - both must be there
    except (KeyError, TypeError, ValueError, RuntimeError, ParameterError) as exc:
        raise DataError(f"{stem}: the audio-encoder checkpoint is damaged or does not match its configuration "
                        f"({type(exc).__name__}: {exc})") from None
    return net.eval(), meta
