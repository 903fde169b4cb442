"""Fuzzing the public API (issue 13): random shapes, dtypes, sample rates and parameter values
either work or raise one SemeqError subclass -- never another exception, never more memory than
a small multiple of the input."""

import tracemalloc

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason='the fuzz suite needs hypothesis (pip install -e ".[test]")')
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from semeq import EQParams, SemeqError, StreamingEQ, apply_eq, save_audio  # noqa: E402
from semeq.adaptive import SemanticEQ  # noqa: E402
from semeq.loudness import level_stats  # noqa: E402

MEMORY_FACTOR = 64
"""Peak traced memory allowed, as a multiple of the input held as float64..."""
MEMORY_FLOOR_BYTES = 32 << 20
"""...plus this much for fixed costs (filter designs, the analysis of a short clip)."""

DTYPES = [np.float64, np.float32, np.float16, np.int16, np.int32, np.int8, np.uint8, np.int64, np.uint16, np.bool_,
          np.complex64]

sample_rates = st.one_of(
    st.sampled_from([8000, 22050, 44100, 48000, 96000, 192000]),
    st.integers(-10**6, 10**7),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["44100", None, True, b"x", [44100]]),
)


@st.composite
def audio_arrays(draw, max_samples=3000):
    """Arrays of any rank and layout, the (samples, channels) trap among them."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    layout = draw(st.sampled_from(["any", "channels_first", "transposed"]))
    if layout == "any":
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=40))
    elif layout == "channels_first":
        shape = (draw(st.integers(1, 4)), draw(st.integers(0, max_samples)))
    else:
        shape = (draw(st.integers(65, max_samples)), draw(st.integers(1, 8)))
    if dtype.kind == "f":
        elements = st.floats(-4.0, 4.0, width=dtype.itemsize * 8) | st.sampled_from([np.nan, np.inf, -np.inf, 0.0])
        fill = st.floats(-1.0, 1.0, width=dtype.itemsize * 8)
    else:
        elements, fill = None, None
    return draw(hnp.arrays(dtype, shape, elements=elements, fill=fill))


params_strategy = st.fixed_dictionaries(dict(
    low_shelf_gain_db=st.floats(-20, 20), low_shelf_freq_hz=st.floats(1, 30000),
    peak1_gain_db=st.floats(-20, 20), peak1_freq_hz=st.floats(1, 30000), peak1_q=st.floats(0.01, 20),
    high_shelf_gain_db=st.floats(-20, 20), high_shelf_freq_hz=st.floats(1, 30000),
))
"""EQParams values, in and out of range: built inside the call, where a ParameterError counts."""
words = st.sampled_from(["warm", "bright", "WARM ", "wram", "", "\x00", "claro", "ß"]) | st.text(max_size=8)
intensities = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 3),
                        st.sampled_from(["0.5", [0.5]]))


def _input_bytes(audio) -> int:
    return int(np.asarray(audio).size) * 8 if isinstance(audio, np.ndarray) else 0


def _check(call, audio):
    """Run ``call``: it works or raises a SemeqError, within the memory bound."""
    tracemalloc.start()
    try:
        try:
            call()
        except SemeqError:
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= MEMORY_FACTOR * _input_bytes(audio) + MEMORY_FLOOR_BYTES, peak


fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
fuzz_slow = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def engine():
    """Warmed up: its one-time caches (the word curves) are not the memory under test."""
    engine = SemanticEQ()
    clip = 0.1 * np.random.default_rng(0).standard_normal((2, 22050))
    engine.score(clip, 44100, "warm")
    engine.apply(clip, 44100, "warm", None)
    return engine


@fuzz
@given(audio=audio_arrays(), sample_rate=sample_rates, params=params_strategy)
def test_apply_eq(audio, sample_rate, params):
    _check(lambda: apply_eq(audio, sample_rate, EQParams(**params)), audio)


@fuzz
@given(audio=audio_arrays(), sample_rate=sample_rates)
def test_level_stats(audio, sample_rate):
    _check(lambda: level_stats(audio, sample_rate), audio)


@fuzz
@given(audio=audio_arrays(max_samples=600), sample_rate=sample_rates, channels=st.integers(-1, 4) | st.sampled_from([2.5, "2"]),
       params=params_strategy)
def test_streaming_eq(audio, sample_rate, channels, params):
    def call():
        eq = StreamingEQ(sample_rate, channels, EQParams(**params))
        eq.process(audio)

    _check(call, audio)


@fuzz
@given(audio=audio_arrays(max_samples=600), sample_rate=sample_rates,
       subtype=st.sampled_from([None, "PCM_16", "FLOAT", "int24", "bogus", "VORBIS"]),
       suffix=st.sampled_from([".wav", ".flac", ".ogg", ".xyz", ""]))
def test_save_audio(tmp_path_factory, audio, sample_rate, subtype, suffix):
    folder = tmp_path_factory.mktemp("save")
    _check(lambda: save_audio(folder / f"x{suffix}", audio, sample_rate, subtype=subtype), audio)
    leftovers = [p.name for p in folder.iterdir() if p.name.endswith(".part")]
    assert not leftovers


@st.composite
def plausible_audio(draw):
    """Mostly analysable clips (noise, 0.1-0.5 s) in random dtypes and layouts."""
    channels = draw(st.integers(1, 3))
    n = draw(st.integers(1, 22050))
    level = draw(st.sampled_from([0.0, 1e-6, 0.1, 1.0]))
    x = level * np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal((channels, n))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int16]))
    x = np.clip(x, -1, 1)
    if dtype is np.int16:
        x = np.round(x * 32767).astype(np.int16)
    else:
        x = x.astype(dtype)
    if draw(st.booleans()) and n > 64:
        x = x.T
    return x


@fuzz_slow
@given(audio=plausible_audio() | audio_arrays(max_samples=2000), sample_rate=sample_rates, target=words,
       intensity=intensities, method=st.sampled_from(["apply", "profile", "score", "suggest_intensity", "adaptive_eq",
                                                     "encode"]))
def test_semantic_eq(engine, audio, sample_rate, target, intensity, method):
    calls = {
        "apply": lambda: engine.apply(audio, sample_rate, target, intensity),
        "profile": lambda: engine.profile(audio, sample_rate),
        "score": lambda: engine.score(audio, sample_rate, target),
        "suggest_intensity": lambda: engine.suggest_intensity(audio, sample_rate, target),
        "adaptive_eq": lambda: engine.adaptive_eq(audio, sample_rate, target, 0.5 if intensity is None else intensity),
        "encode": lambda: engine.encode(audio, sample_rate),
    }
    _check(calls[method], audio)
