"""Training-data synthesis for the audio encoder: pink and music-shaped noise, and EQ applied
in the spectral domain.

Noise is generated in the frequency domain: complex Gaussian spectra (independent real and
imaginary parts, so the power of every bin is exponentially distributed with the wanted mean)
shaped by the wanted amplitude, then one inverse real FFT. There is no octave-band staircase:
every bin gets its own ``1 / sqrt(f)`` (pink) amplitude.

EQ is applied to cached STFT power: ``|X(k, t)|^2 * G(k)``, with ``G`` the filter's power
response averaged over the main lobe of the Hann window around bin ``k``. For filters whose
impulse response is short against the 1024-sample frame this equals filtering in time; it is
what lets training make thousands of examples a second. :func:`spectral_bin_gains` is torch
(imported lazily); the noise generators are NumPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import ParameterError

if TYPE_CHECKING:
    import torch

__all__ = ["pink_noise", "shaped_noise", "random_balance_db", "spectral_bin_gains", "HANN_LOBE_OFFSETS"]

HANN_LOBE_OFFSETS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
"""Offsets in bins at which a filter's power response is sampled around each bin centre."""


def _hann_lobe_weights() -> np.ndarray:
    # |W(delta)|^2 of a Hann window, delta in bins: W ~ sinc(delta) / (1 - delta^2).
    d = HANN_LOBE_OFFSETS
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(np.abs(np.abs(d) - 1.0) < 1e-12, 0.5, np.sinc(d) / (1.0 - d**2))
    w = w**2
    return w / w.sum()


def _check_length(n_samples: int, n_channels: int) -> tuple[int, int]:
    n_samples, n_channels = int(n_samples), int(n_channels)
    if n_samples < 2:
        raise ParameterError(f"n_samples must be at least 2, got {n_samples}")
    if n_channels < 1:
        raise ParameterError(f"n_channels must be at least 1, got {n_channels}")
    return n_samples, n_channels


def shaped_noise(amplitude_of_freq, n_samples: int, sample_rate: float, rng: np.random.Generator,
                 n_channels: int = 1, rms: float = 0.1) -> np.ndarray:
    """Gaussian noise with power spectral density proportional to ``amplitude(f)**2``.

    Parameters
    ----------
    amplitude_of_freq : callable
        Maps bin frequencies in Hz (ndarray, excluding 0 Hz) to linear amplitudes.
    n_samples, n_channels : int
    sample_rate : float
    rng : numpy.random.Generator
    rms : float > 0
        RMS of each channel of the result.

    Returns
    -------
    noise : ndarray [shape=(n_channels, n_samples)], float64
        Zero mean (the DC bin is zero); channels independent.
    """
    n_samples, n_channels = _check_length(n_samples, n_channels)
    freqs_hz = np.fft.rfftfreq(n_samples, 1.0 / float(sample_rate))
    amp = np.zeros(freqs_hz.size)
    amp[1:] = amplitude_of_freq(freqs_hz[1:])
    spec = (rng.standard_normal((n_channels, freqs_hz.size)) + 1j * rng.standard_normal((n_channels, freqs_hz.size))) * amp
    if n_samples % 2 == 0:
        spec[:, -1] = spec[:, -1].real * np.sqrt(2.0)  # the Nyquist bin is real: keep its mean power
    noise = np.fft.irfft(spec, n=n_samples, axis=-1)
    return noise * (float(rms) / np.sqrt(np.mean(noise**2, axis=-1, keepdims=True)))


def pink_noise(n_samples: int, sample_rate: float, rng: np.random.Generator, n_channels: int = 1,
               rms: float = 0.1) -> np.ndarray:
    """Pink noise: power spectral density proportional to ``1 / f`` (-3.01 dB per octave).

    Parameters
    ----------
    n_samples : int
    sample_rate : float
    rng : numpy.random.Generator
    n_channels : int
    rms : float
        RMS of each channel.

    Returns
    -------
    noise : ndarray [shape=(n_channels, n_samples)]

    Examples
    --------
    >>> x = pink_noise(44100, 44100, np.random.default_rng(0))
    >>> x.shape
    (1, 44100)
    """
    return shaped_noise(lambda f: 1.0 / np.sqrt(f), n_samples, sample_rate, rng, n_channels, rms)


def random_balance_db(freqs_hz: np.ndarray, rng: np.random.Generator, n: int, tilt_db_per_octave: float = 1.5,
                      n_bumps: int = 3, bump_db: float = 3.0) -> np.ndarray:
    """Smooth random spectral deviations: a tilt plus a few broad Gaussian bumps in log frequency.

    Parameters
    ----------
    freqs_hz : ndarray [shape=(n_freqs,)]
    rng : numpy.random.Generator
    n : int
        Number of curves.
    tilt_db_per_octave, bump_db : float
        Standard deviations of the tilt (around 1 kHz) and of each bump's height.

    Returns
    -------
    balance_db : ndarray [shape=(n, n_freqs)]
    """
    octaves = np.log2(np.asarray(freqs_hz, dtype=np.float64) / 1000.0)  # (F,)
    tilt = rng.normal(0.0, tilt_db_per_octave, size=(n, 1)) * octaves
    centres = rng.uniform(-5.0, 4.0, size=(n, n_bumps, 1))
    widths = rng.uniform(0.5, 2.0, size=(n, n_bumps, 1))
    heights = rng.normal(0.0, bump_db, size=(n, n_bumps, 1))
    bumps = (heights * np.exp(-0.5 * ((octaves - centres) / widths) ** 2)).sum(axis=1)
    return tilt + bumps


def spectral_bin_gains(params: torch.Tensor, bin_freqs_hz: np.ndarray, sample_rate: float = 44100.0) -> torch.Tensor:
    """Power gains of a batch of EQs at STFT bins, averaged over the Hann main lobe.

    Parameters
    ----------
    params : Tensor [shape=(batch, 13)]
        Physical SAFE parameters.
    bin_freqs_hz : ndarray [shape=(n_bins,)]
        Uniform bin centres from 0 Hz.
    sample_rate : float

    Returns
    -------
    gains : Tensor [shape=(batch, n_bins)]
        Linear power gain per bin, dtype of ``params``.
    """
    import torch

    from ..nn.response import eq_response_db

    bin_freqs_hz = np.asarray(bin_freqs_hz, dtype=np.float64)
    df = bin_freqs_hz[1] - bin_freqs_hz[0]
    fine = bin_freqs_hz[:, None] + HANN_LOBE_OFFSETS[None, :] * df  # (n_bins, n_offsets)
    fine = np.clip(fine, 1.0, 0.4999 * float(sample_rate))
    resp_db = eq_response_db(params, fine.reshape(-1), sample_rate)  # (batch, n_bins * n_offsets)
    power = torch.pow(10.0, resp_db / 10.0).reshape(params.shape[0], bin_freqs_hz.size, HANN_LOBE_OFFSETS.size)
    weights = torch.as_tensor(_hann_lobe_weights(), dtype=params.dtype)
    return power @ weights  # (batch, n_bins)
