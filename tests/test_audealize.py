"""Audealize reader, the 40-band graphic EQ response, and the dB calibration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semeq.data.audealize import AUDEALIZE_CENTRES_HZ, calibrate_scale, graphic_eq_response_db, read_audealize
from semeq.dsp import eq_response
from semeq.errors import DataError
from semeq.params import EQParams

FREQS = np.geomspace(20.0, 20000.0, 256)


def test_reads_real_file(data_root):
    data = read_audealize(data_root / "audealize" / "eqdescriptors.json")
    assert len(data) == 394
    assert data.languages.count("en") == 294 and data.languages.count("es") == 100
    assert data.settings.shape == (394, 40)
    assert "warm" in data.words and "claro" in data.words
    assert np.all(data.n_contributors >= 1)


def test_single_band_matches_rbj_peak():
    gains = np.zeros((1, 40))
    gains[0, 15] = 6.0  # the 1114 Hz band
    curve = graphic_eq_response_db(gains, FREQS)[0]
    peak = EQParams(peak2_gain_db=6.0, peak2_freq_hz=float(AUDEALIZE_CENTRES_HZ[15]), peak2_q=4.31)
    assert np.allclose(curve, eq_response(peak, FREQS), atol=1e-9)
    assert graphic_eq_response_db(np.zeros((1, 40)), FREQS).max() == pytest.approx(0.0, abs=1e-12)


def test_calibration_recovers_a_known_scale(rng):
    settings = rng.normal(size=(6, 40))
    targets = graphic_eq_response_db(2.5 * settings, FREQS)
    scale, rms = calibrate_scale(settings, targets, np.ones(6), FREQS)
    assert scale == pytest.approx(2.5, abs=1e-3)
    assert rms < 1e-2


@pytest.mark.parametrize("content", [
    "not json",
    '{"word": "warm"}',
    '[{"word": "warm", "lang": "English", "settings": [1, 2], "num": 3, "agreement": 0.5}]',
    '[{"word": "warm", "lang": "Klingon", "settings": ' + json.dumps([0.0] * 40) + ', "num": 3, "agreement": 0.5}]',
    '[{"word": "warm", "settings": ' + json.dumps([0.0] * 40) + '}]',
    "[]",
    '[{"word": "warm", "lang": "English", "settings": [0.1, 0.2',
])
def test_bad_files_raise_data_error(tmp_path, content):
    path = tmp_path / "words.json"
    path.write_text(content)
    with pytest.raises(DataError):
        read_audealize(path)
