"""A small deterministic stand-in for ``semeq.adaptive.SemanticEQ`` (the SemanticAnalyzer protocol).

It maps a window's spectral balance to a 32-d "latent" (only the first two entries are used:
high-vs-low tilt and mid-vs-sides, both in [-1, 1]) and a latent to an EQ by fixed formulas, so
the streaming engine's mechanics can be tested without trained models. Used by the tests and,
when the real models are not importable, by benchmarks/bench_stream.py.
"""

from __future__ import annotations

import threading

import numpy as np

from semeq.errors import UnknownWordError
from semeq.params import EQParams

LATENT_DIM = 32
WORDS = {
    "flat": (0.0, 0.0),
    "bright": (1.0, 0.0),
    "warm": (-1.0, 0.5),
    "dark": (-1.0, -0.5),
    "airy": (0.8, -0.6),
}


def _latent(tilt: float, mid: float) -> np.ndarray:
    z = np.zeros(LATENT_DIM)
    z[0], z[1] = tilt, mid
    return z


class TiltAnalyzer:
    """encode: band energies of the mono mix; decode: z[0] tilts the shelves, z[1] moves peak 2."""

    def __init__(self, encode_delay_s: float = 0.0, encode_started: threading.Event | None = None,
                 encode_finished: threading.Event | None = None):
        self.encode_delay_s = encode_delay_s
        self.encode_started = encode_started
        self.encode_finished = encode_finished
        self.n_encodes = 0

    def encode(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        if self.encode_started is not None:
            self.encode_started.set()
        if self.encode_delay_s:
            threading.Event().wait(self.encode_delay_s)
        mono = np.mean(audio, axis=0)
        power = np.abs(np.fft.rfft(mono)) ** 2
        freqs = np.fft.rfftfreq(mono.size, 1.0 / sample_rate)
        low = power[freqs < 400.0].sum() + 1e-12
        mid = power[(freqs >= 400.0) & (freqs < 3000.0)].sum() + 1e-12
        high = power[freqs >= 3000.0].sum() + 1e-12
        tilt = float(np.clip(10.0 * np.log10(high / low) / 30.0, -1.0, 1.0))
        mid_vs_sides = float(np.clip(10.0 * np.log10(mid / (low + high)) / 30.0, -1.0, 1.0))
        self.n_encodes += 1
        if self.encode_finished is not None:
            self.encode_finished.set()
        return _latent(tilt, mid_vs_sides)

    def target_latent(self, target: str, blend: str | None = None, alpha: float = 0.0) -> np.ndarray:
        z = self._word(target)
        if blend is not None:
            z = (1.0 - alpha) * z + alpha * self._word(blend)
        return z

    @staticmethod
    def _word(word: str) -> np.ndarray:
        if word not in WORDS:
            raise UnknownWordError(f"unknown word {word!r}; known words: {', '.join(sorted(WORDS))}")
        return _latent(*WORDS[word])

    @staticmethod
    def decode(z: np.ndarray) -> EQParams:
        tilt, mid = float(z[0]), float(z[1])
        return EQParams.clipped([
            -6.0 * tilt, 200.0 * np.exp(0.5 * mid),          # low shelf
            2.0 * mid, 300.0, 1.0,                             # peak 1
            5.0 * mid, 1500.0 * np.exp(0.7 * tilt), 0.7 * np.exp(0.8 * mid),  # peak 2
            -2.0 * tilt, 5000.0, 2.0,                          # peak 3
            6.0 * tilt, 7000.0 * np.exp(0.4 * tilt),           # high shelf
        ])

    def cascade_for(self, z_audio: np.ndarray, z_target: np.ndarray, intensity: float) -> tuple[EQParams, EQParams]:
        z_final = z_audio + intensity * (z_target - z_audio)
        return self.decode(z_final), self.decode(z_audio).inverted()


class TiltPowerAnalyzer:
    """The dB-rule stand-in (``design_from_power``): the tilt of the window's long-term spectrum,
    read as TiltAnalyzer reads audio, and ONE EQ that moves it toward the word by ``intensity``
    (none at all when nothing is needed)."""

    def __init__(self) -> None:
        self.n_designs = 0
        self.last_power: np.ndarray | None = None

    def design_from_power(self, freqs_hz: np.ndarray, power: np.ndarray, target: str, intensity: float, *,
                          blend: str | None = None, alpha: float = 0.0) -> tuple[EQParams, ...]:
        z_target = TiltAnalyzer().target_latent(target, blend, alpha)
        self.n_designs += 1
        self.last_power = np.array(power)
        low = power[freqs_hz < 400.0].sum() + 1e-30
        mid = power[(freqs_hz >= 400.0) & (freqs_hz < 3000.0)].sum() + 1e-30
        high = power[freqs_hz >= 3000.0].sum() + 1e-30
        tilt = float(np.clip(10.0 * np.log10(high / low) / 30.0, -1.0, 1.0))
        mid_vs_sides = float(np.clip(10.0 * np.log10(mid / (low + high)) / 30.0, -1.0, 1.0))
        delta = intensity * (z_target - _latent(tilt, mid_vs_sides))
        if intensity == 0.0 or not np.any(np.abs(delta) > 1e-9):
            return ()
        return (TiltAnalyzer.decode(delta),)
