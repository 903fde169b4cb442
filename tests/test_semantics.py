"""The direction-safe rule, the music reference and the held band, on balances whose answer is known."""

import numpy as np
import pytest

from semeq import EQParams, eq_response
from semeq.analysis import GRID_FREQS_HZ, NORM_BAND_HZ
from semeq.errors import DataError, ParameterError
from semeq.reference import PERCENTILES, MusicReference, content_cutoff_hz, held_mask, normalise_held
from semeq.semantics import (
    BOUND,
    intensity_for_need,
    match_change_db,
    need,
    smooth_held,
    soft_bound,
    taper_above,
    toward_change_db,
)

ALL = np.ones(GRID_FREQS_HZ.size, dtype=bool)
NORM = (GRID_FREQS_HZ >= NORM_BAND_HZ[0]) & (GRID_FREQS_HZ <= NORM_BAND_HZ[1])
WORDS = {
    "warm-like": EQParams(low_shelf_gain_db=5, low_shelf_freq_hz=250, high_shelf_gain_db=-4, high_shelf_freq_hz=5000),
    "bright-like": EQParams(peak3_gain_db=3, peak3_freq_hz=3000, high_shelf_gain_db=6, high_shelf_freq_hz=6000),
    "scoop": EQParams(peak2_gain_db=-6, peak2_freq_hz=800, peak2_q=1.0),
}


def level_free(curve, held=ALL):
    return np.where(held, curve - curve[held & NORM].mean(), 0.0)


def random_balances(rng, n):
    """Rough balances: tilts, bumps and per-band noise, much wider than any word."""
    octaves = np.log2(GRID_FREQS_HZ / 1000.0)
    out = []
    for _ in range(n):
        tilt = rng.uniform(-6, 6) * octaves
        bumps = sum(rng.uniform(-8, 8) * np.exp(-0.5 * ((octaves - rng.uniform(-5, 4)) / rng.uniform(0.2, 1.5)) ** 2)
                    for _ in range(3))
        out.append(tilt + bumps + rng.normal(0, 2.0, GRID_FREQS_HZ.size))
    return np.array(out)


@pytest.mark.parametrize("word", list(WORDS))
def test_sign_bound_and_identity_on_random_balances(word, rng):
    w = eq_response(WORDS[word], GRID_FREQS_HZ)
    wl = level_free(w)
    for b in random_balances(rng, 200):
        for intensity in (0.0, 0.3, 1.0):
            c = toward_change_db(b, w, ALL, intensity)
            if intensity == 0.0:
                assert np.all(c == 0.0)
                continue
            assert np.all(c * wl >= 0.0)  # the sign of the word, or zero: never against it
            assert np.all(np.abs(c) <= BOUND * intensity * np.abs(wl) + 1e-12)  # at most twice the word
        # linear in intensity: monotone, and the need of the rule scales exactly
        np.testing.assert_allclose(toward_change_db(b, w, ALL, 0.5), 0.5 * toward_change_db(b, w, ALL, 1.0), atol=1e-12)


@pytest.mark.parametrize("word", list(WORDS))
def test_a_recording_at_or_beyond_the_word_gets_nothing(word):
    w = eq_response(WORDS[word], GRID_FREQS_HZ)
    wl = level_free(w)
    for k in (1.0, 1.5, 3.0):  # the balance already carries the word k times over
        assert np.all(toward_change_db(k * wl, w, ALL, 1.0) == 0.0)
        assert need(k * wl, w, ALL) == 0.0 and intensity_for_need(need(k * wl, w, ALL)) == 0.0
    # at the reference centre: about the word itself (S(1) = 0.92 of it)
    c = toward_change_db(np.zeros_like(w), w, ALL, 1.0)
    big = np.abs(wl) > 2.0  # away from the word's zero crossings, where eps and the smoothing act
    np.testing.assert_allclose(c[big] / wl[big], soft_bound(1.0), atol=0.03)


@pytest.mark.parametrize("word", list(WORDS))
def test_restraint_each_application_of_the_word_shrinks_the_change(word, rng):
    """Applying the word's EQ 0..3 times beforehand: the change shrinks at every step (the rule is
    strictly monotone in the gap), and after 3 it is a small part of the first."""
    w = eq_response(WORDS[word], GRID_FREQS_HZ)
    wl = level_free(w)
    for b in random_balances(rng, 50):
        sizes = [np.sqrt(np.mean(toward_change_db(b + k * wl, w, ALL, 1.0)[NORM] ** 2)) for k in range(4)]
        active = sizes[0] > 1e-9
        if active:
            assert all(s1 < s0 or s0 == 0.0 for s0, s1 in zip(sizes, sizes[1:])), sizes


def test_adaptation_a_darker_recording_gets_more_bright():
    w = eq_response(WORDS["bright-like"], GRID_FREQS_HZ)
    octaves = np.log2(GRID_FREQS_HZ / 1000.0)
    sizes = [np.sqrt(np.mean(toward_change_db(tilt * octaves, w, ALL, 0.7)[NORM] ** 2)) for tilt in (-4, -2, 0, 2, 4)]
    assert all(a > b for a, b in zip(sizes, sizes[1:])), sizes  # the darker, the more
    assert sizes[0] > 2.0 * sizes[2]


def test_the_change_is_smooth_and_a_5band_eq_follows_it(rng):
    """Even on rough balances the change is smooth enough for one 5-band EQ within 0.5 dB RMS."""
    from semeq.fitting import eq_response_single, fit_eq

    for word, b in zip(WORDS, random_balances(rng, 3)):
        w = eq_response(WORDS[word], GRID_FREQS_HZ)
        c = toward_change_db(b, w, ALL, 1.0)
        # second differences no rougher than the word's own curve scaled to the bound, plus the ratio's smoothing
        assert np.max(np.abs(np.diff(c, 2))) <= BOUND * np.max(np.abs(np.diff(level_free(w), 2))) + 0.6
        fit = fit_eq(c, GRID_FREQS_HZ, 44100.0)
        err = eq_response_single(fit.params, GRID_FREQS_HZ, 44100.0) - c
        assert np.sqrt(np.mean(err**2)) < 0.5, (word, np.sqrt(np.mean(err**2)))


def test_smoothing_stays_within_the_values_it_averages(rng):
    held = held_mask(12000.0)
    x = rng.uniform(0, BOUND, GRID_FREQS_HZ.size)
    y = smooth_held(x, held)
    assert np.all(y[held] >= x[held].min() - 1e-12) and np.all(y[held] <= x[held].max() + 1e-12)
    assert np.all(y[~held] == 0.0)


def test_match_moves_the_whole_balance_either_way():
    w = eq_response(WORDS["warm-like"], GRID_FREQS_HZ)
    wl = level_free(w)
    beyond = 3.0 * wl
    c = match_change_db(beyond, w, ALL, 1.0)
    assert np.sum(c * wl) < 0  # match takes a recording beyond the word back: against the word, on purpose
    assert np.all(toward_change_db(beyond, w, ALL, 1.0) == 0.0)  # toward never does
    np.testing.assert_allclose(match_change_db(wl, w, ALL, 1.0), 0.0, atol=1e-9)  # at the target: nothing


def test_need_and_auto_intensity():
    w = eq_response(WORDS["bright-like"], GRID_FREQS_HZ)
    wl = level_free(w)
    needs = [need(-k * wl, w, ALL) for k in np.linspace(-1, 4, 26)]  # from beyond the word to far from it
    assert needs[0] == 0.0 and np.all(np.diff(needs) >= 0) and needs[-1] < BOUND
    assert need(np.zeros_like(w), w, ALL) == pytest.approx(soft_bound(1.0), abs=0.02)


def test_held_band_and_taper():
    held = held_mask(8000.0)
    assert held.sum() < GRID_FREQS_HZ.size and np.all(GRID_FREQS_HZ[held] * 2 ** (1 / 6) <= 8000.0 * (1 + 1e-9))
    w = eq_response(WORDS["bright-like"], GRID_FREQS_HZ)
    c = toward_change_db(np.zeros_like(w), w, held, 1.0)
    assert np.all(c[~held] == 0.0)
    t = taper_above(c, held)
    last = np.flatnonzero(held)[-1]
    assert np.all(np.abs(np.diff(t[last:])) <= abs(c[last])) and np.all(t[last + 3:] == 0.0)


# -- the held band of a recording ----------------------------------------------------------

def _psd(freqs, cut_hz=None, slope_db_per_octave=-3.0):
    level = slope_db_per_octave * np.log2(np.maximum(freqs, 20.0) / 1000.0)
    if cut_hz is not None:
        level = np.where(freqs < cut_hz, level, -130.0)
    return 10 ** (level / 10)


@pytest.mark.parametrize("cut_hz", [11000.0, 15000.0, 16000.0, 19000.0])
def test_a_lossy_cut_is_found(cut_hz):
    f = np.linspace(0, 22050, 2049)
    found = content_cutoff_hz(f, _psd(f, cut_hz), 44100)
    assert cut_hz / 2 ** (1 / 12) <= found <= cut_hz + 2 * (f[1] - f[0]), found  # within a bin of the cut, or below it


@pytest.mark.parametrize("slope", [-3.0, -9.0, -15.0])
def test_a_natural_roll_off_is_not_a_cut(slope):
    f = np.linspace(0, 22050, 2049)
    assert content_cutoff_hz(f, _psd(f, None, slope), 44100) == 22050.0
    assert content_cutoff_hz(f, _psd(f, None, slope), 16000) == 8000.0  # nothing above Nyquist


# -- the music reference -------------------------------------------------------------------

def test_reference_statistics_round_trip_and_percentiles(tmp_path, rng):
    octaves = np.log2(GRID_FREQS_HZ / 1000.0)
    tilts = np.linspace(-6, 0, 21)
    spectra = np.array([normalise_held(t * octaves, ALL) for t in tilts])
    spectra[::3, -4:] = np.nan  # some tracks are lossy: they do not hold the top bands
    ref = MusicReference.from_spectra(spectra, [f"t{i}" for i in range(21)], source={"kind": "test"})
    valid = np.isfinite(spectra[:, -1])
    assert ref.percentile_db(90)[-1] == pytest.approx(np.percentile(spectra[valid, -1], 90))
    assert ref.centre_db[10] == pytest.approx(np.median(spectra[:, 10]))
    path = ref.save(tmp_path / "ref.json")
    again = MusicReference.load(path)
    np.testing.assert_allclose(again.spectra_db, ref.spectra_db, atol=0.006)
    # Along the "brighter" direction, track k of 21 (sorted by tilt) sits at the mid-rank percentile.
    up = octaves.copy()
    band = NORM.copy()
    pct = [ref.percentiles(s, up[None], band)[0] for s in spectra]
    np.testing.assert_allclose(pct, 100 * (np.arange(21) + 0.5) / 21, atol=1e-6)
    assert ref.percentiles(normalise_held(-20 * octaves, ALL), up[None], band)[0] == 0.0
    assert ref.percentiles(normalise_held(20 * octaves, ALL), up[None], band)[0] == 100.0
    # level does not matter, and the corridor is ordered
    assert ref.percentiles(spectra[5] + 7.0, up[None], band)[0] == pytest.approx(pct[5])
    corridor = ref.corridor(ALL)
    for lo, hi in zip(PERCENTILES, PERCENTILES[1:]):
        assert np.all(corridor[lo] <= corridor[hi] + 1e-9)


def test_reference_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    with pytest.raises(DataError, match="not a semeq music reference"):
        MusicReference.load(bad)
    bad.write_text("not json")
    with pytest.raises(DataError):
        MusicReference.load(bad)
    with pytest.raises(DataError):
        MusicReference.from_spectra(np.zeros((1, GRID_FREQS_HZ.size)), ["one"])
    with pytest.raises(ParameterError):
        MusicReference.from_spectra(np.zeros((3, GRID_FREQS_HZ.size)), ["a", "b", "c"]).percentile_db(33)


def test_reference_build_command_from_a_folder_of_clips(tmp_path, rng):
    import soundfile as sf

    from semeq.cli import main

    octaves = np.log2(np.maximum(np.fft.rfftfreq(44100, 1 / 44100), 20.0) / 1000.0)
    for k, tilt in enumerate((-4.0, -2.0, 0.0)):
        spectrum = (rng.standard_normal(octaves.size) + 1j * rng.standard_normal(octaves.size)) * 10 ** (tilt * octaves / 20)
        x = np.fft.irfft(spectrum, 44100)
        sf.write(str(tmp_path / f"clip{k}.wav"), 0.1 * x / np.std(x), 44100, subtype="FLOAT")
    out = tmp_path / "ref.json"
    assert main(["reference", "build", "--clips", str(tmp_path), "--out", str(out)]) == 0
    ref = MusicReference.load(out)
    assert ref.n_tracks == 3 and ref.source["kind"] == "clips"
    # the centre is the per-band median: the -2 dB/octave clip, between the other two
    mid = NORM & (GRID_FREQS_HZ > 200)
    slope = np.polyfit(np.log2(GRID_FREQS_HZ[mid] / 1000), ref.centre_db[mid], 1)[0]
    assert slope == pytest.approx(-2.0, abs=0.5)
    assert main(["reference", "build", "--clips", str(tmp_path), "--out", str(out)]) == 2  # no clobbering without --force
