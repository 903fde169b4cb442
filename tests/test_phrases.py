"""The phrase reader (semeq.phrases): each category in English and Spanish, exact negation,
monotone amounts, accents and case, refusals, unseen words, and lazy loading of the embedding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from semeq.errors import UnknownWordError
from semeq.phrases import (AMOUNT_LEVELS, AMOUNT_WEIGHTS, base_forms, describe_curve, fold, understand)
from semeq.text_embedding import MAX_EMBEDDING_CONFIDENCE, MIN_CONFIDENCE, embedding_available

SRC = str(Path(__file__).resolve().parents[1] / "src")
GRID = 20.0 * 2.0 ** (np.arange(60) / 6.0)


@pytest.fixture(scope="module")
def engine():
    from semeq import SemanticEQ

    return SemanticEQ()


@pytest.fixture(scope="module")
def model(engine):
    return engine.eq_model


def signed(interp) -> list[tuple[str, int]]:
    return sorted((t.word, t.sign) for t in interp.terms)


# ------------------------------------------------------------------------------------------ categories
@pytest.mark.parametrize(("text", "terms", "intensity"), [
    # inflections and comparatives
    ("darker", [("dark", 1)], None),
    ("brighter", [("bright", 1)], None),
    ("warmest", [("warm", 1)], AMOUNT_LEVELS["max"]),
    ("muddiness", [("muddy", 1)], None),
    ("more warmth", [("warm", 1)], None),
    ("add some depth", [("deep", 1)], None),
    ("cálidas", [("warm", 1)], None),
    ("brillantísimo", [("bright", 1)], None),
    # polarity
    ("less harsh", [("harsh", -1)], None),
    ("not so bright", [("bright", -1)], None),
    ("too boomy", [("boomy", -1)], AMOUNT_LEVELS["quite"]),
    ("reduce the muddiness", [("muddy", -1)], None),
    ("tame the harshness", [("harsh", -1)], None),
    ("remove the boominess", [("boomy", -1)], AMOUNT_LEVELS["much"]),
    ("cut the mud", [("muddy", -1)], None),
    ("not bright enough", [("bright", 1)], None),
    ("menos brillante", [("bright", -1)], None),
    ("demasiado brillante", [("bright", -1)], AMOUNT_LEVELS["quite"]),
    ("quita lo turbio", [("muddy", -1)], AMOUNT_LEVELS["much"]),
    ("sin graves", [("bass", -1)], None),
    # amounts
    ("a touch warmer", [("warm", 1)], AMOUNT_LEVELS["touch"]),
    ("a bit darker", [("dark", 1)], AMOUNT_LEVELS["bit"]),
    ("much brighter", [("bright", 1)], AMOUNT_LEVELS["much"]),
    ("way too harsh", [("harsh", -1)], AMOUNT_LEVELS["much"]),
    ("a bit too harsh", [("harsh", -1)], AMOUNT_LEVELS["bit"]),
    ("un poco más cálido", [("warm", 1)], AMOUNT_LEVELS["bit"]),
    ("mucho más oscuro", [("dark", 1)], AMOUNT_LEVELS["much"]),
    # combinations
    ("warm and airy", [("airy", 1), ("warm", 1)], None),
    ("warm but clear", [("clear", 1), ("warm", 1)], None),
    ("brighter and less boomy", [("boomy", -1), ("bright", 1)], None),
    ("too boomy and thin", [("boomy", -1), ("thin", -1)], AMOUNT_LEVELS["quite"]),
    ("cálido y aireado", [("airy", 1), ("warm", 1)], None),
    ("cálido pero claro", [("claro", 1), ("warm", 1)], None),
    # instruments and sections: the quality is read, the part is the scope
    ("the vocal is harsh", [("harsh", -1)], None),
    ("la voz es áspera", [("harsh", -1)], None),
    ("the drums sound muddy", [("muddy", -1)], None),
    ("make the vocals sound warmer", [("warm", 1)], None),
])
def test_each_category_english_and_spanish(model, text, terms, intensity):
    interp = understand(text, model)
    assert signed(interp) == sorted(terms)
    assert interp.intensity == intensity
    assert sum(t.weight for t in interp.terms) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(("text", "scope"), [("the vocal is harsh", "vocal"), ("la voz es áspera", "vocal"),
                                             ("the drums sound muddy", "drums"), ("warmer guitars", "guitar")])
def test_instrument_words_are_a_scope_with_a_whole_mix_note(model, text, scope):
    interp = understand(text, model)
    assert interp.scope == scope
    assert any("whole mix" in n for n in interp.notes)


def test_an_instrument_word_alone_stays_the_vocabulary_word(model):
    interp = understand("drums", model)
    assert [t.word for t in interp.terms] == ["drums"] and interp.scope is None


def test_a_problem_statement_means_less_of_it(model):
    interp = understand("it sounds thin", model)
    assert signed(interp) == [("thin", -1)]
    assert any("problem" in n for n in interp.notes)
    assert signed(understand("make it sound thin", model)) == [("thin", 1)]


# ------------------------------------------------------------------------------------------ exact facts
@pytest.mark.parametrize(("negative", "positive"), [("less warm", "warm"), ("too bright", "bright"),
                                                    ("menos cálido", "cálido"), ("reduce the mud", "muddy"),
                                                    ("not so airy", "airy")])
def test_negation_is_an_exact_sign_flip_of_the_word_curve(engine, negative, positive):
    np.testing.assert_array_equal(engine.word_curve_db(negative), -engine.word_curve_db(positive))
    assert np.max(np.abs(engine.word_curve_db(positive))) > 0.5  # not a flat curve flipped


def test_amount_levels_are_monotone_around_the_default():
    from semeq.request import DEFAULT_INTENSITY

    order = ["touch", "bit", "quite", "much", "max"]
    values = [AMOUNT_LEVELS[k] for k in order]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert AMOUNT_LEVELS["bit"] < DEFAULT_INTENSITY < AMOUNT_LEVELS["quite"]
    weights = [AMOUNT_WEIGHTS[k] for k in ("touch", "bit", None, "quite", "much", "max")]
    assert weights == sorted(weights)


@pytest.mark.parametrize("family", [
    ["a touch warmer", "a bit warmer", "much warmer", "warmest"],
    ["slightly less harsh", "much less harsh"],
    ["a bit too boomy", "too boomy", "way too boomy"],
    ["un toque más cálido", "un poco más cálido", "mucho más cálido", "muchísimo más cálido"],
])
def test_amount_words_order_the_intensity(engine, family):
    values = [engine.request(text).intensity for text in family]
    assert values == sorted(values) and len(set(values)) == len(values)


def test_an_explicit_intensity_wins_over_the_amount_with_a_note(engine):
    request = engine.request("a bit warmer", 0.9)
    assert request.intensity == 0.9 and request.intensity_source == "given"
    assert any("overridden" in n for n in request.notes)
    assert engine.request("a bit warmer").intensity == AMOUNT_LEVELS["bit"]


def test_a_touch_of_gets_the_smaller_weight(model):
    interp = understand("warm with a touch of air", model)
    w = {t.word: t.weight for t in interp.terms}
    assert w["airy"] == pytest.approx(AMOUNT_WEIGHTS["touch"] / (1.0 + AMOUNT_WEIGHTS["touch"]))
    assert w["warm"] == pytest.approx(1.0 / (1.0 + AMOUNT_WEIGHTS["touch"]))


@pytest.mark.parametrize(("a", "b"), [("Warm", "warm"), ("  WARM\t", "warm"), ("calido", "cálido"),
                                      ("CÁLIDO", "cálido"), ("mas calido", "más cálido"),
                                      ("Menos  Brillante", "menos brillante")])
def test_case_accents_and_spacing_do_not_matter(engine, a, b):
    assert signed(understand(a, engine.eq_model)) == signed(understand(b, engine.eq_model))
    np.testing.assert_array_equal(engine.word_curve_db(a), engine.word_curve_db(b))


def test_fold_and_base_forms():
    assert fold(" Cálido  MÁS ") == "calido mas"
    assert {"dark"} <= base_forms("darker")
    assert {"muddy", "mud"} <= base_forms("muddiness")
    assert {"warm"} <= base_forms("warmest") and {"warm"} <= base_forms("warmth")
    assert {"thin"} <= base_forms("thinner")
    assert {"calido"} <= base_forms("Cálidas") and {"brillante"} <= base_forms("brillantísimo")


def test_a_single_vocabulary_word_reads_as_before(model):
    interp = understand("warm", model)
    assert interp.is_single_word and interp.label == "warm" and interp.terms[0].reading == "word"
    assert interp.terms[0].confidence == pytest.approx(model.entry("warm").confidence)


# ------------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize(("text", "match"), [
    ("", "empty"),
    ("   ", "empty"),
    ("asdfgh", r"unknown word 'asdfgh'.*closest known words: \w+"),
    ("warm qwxzv", r"unknown word 'qwxzv'.*closest known words: \w+"),
    ("brigth", r"a typo\?.*closest known words: bright"),
    ("a bit more", "names no sound quality; try a word such as"),
    ("menos", "names no sound quality"),
    ("warm but not warm", "both more and less 'warm'"),
])
def test_gibberish_and_empty_meanings_are_refused_in_one_line(model, text, match):
    with pytest.raises(UnknownWordError, match=match) as err:
        understand(text, model)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------------------------------ curves in words
def test_describe_curve_names_the_band_the_sign_and_the_size():
    boost = np.where((GRID >= 2000) & (GRID <= 5000), 1.5, 0.0)
    text = describe_curve(boost, GRID)
    assert text.startswith("boosts ") and text.endswith("by 1.5 dB") and "kHz" in text
    assert describe_curve(-boost, GRID).startswith("cuts ")
    shelf = np.where(GRID <= 161, -4.0, 0.0) + np.where(GRID > 8000, 2.0, 0.0)  # grid points 160 Hz, 8.1 kHz
    assert describe_curve(shelf, GRID) == "cuts below 160 Hz by 4.0 dB and boosts above 8.1 kHz by 2.0 dB"
    assert describe_curve(np.full(60, 0.1), GRID).startswith("is nearly flat")


def test_a_low_confidence_word_says_what_its_curve_does(engine):
    interp = engine.understand("dark")
    assert engine.eq_model.entry("dark").low_confidence
    note = next(n for n in interp.notes if "its curve" in n)
    assert describe_curve(engine.word_curve_db("dark"), GRID) in note


# ------------------------------------------------------------------------------------------ unseen words
needs_embedding = pytest.mark.skipif(not embedding_available(),
                                     reason="the text embedding package (wordllama) is not installed")


@needs_embedding
def test_an_unseen_word_is_placed_from_its_meaning(engine, model):
    interp = understand("silky", model)
    (term,) = interp.terms
    assert term.source == "embedding" and term.word == "silky"
    assert len(term.latent) == model.latent_dim and term.neighbours
    assert MIN_CONFIDENCE <= term.confidence <= MAX_EMBEDDING_CONFIDENCE
    assert "placed from its meaning" in interp.describe()
    from semeq.dsp.biquad import eq_response

    np.testing.assert_allclose(engine.word_curve_db("silky"),
                               eq_response(model.decode(np.array(term.latent)), GRID), atol=1e-12)
    np.testing.assert_array_equal(engine.word_curve_db("less silky"), -engine.word_curve_db("silky"))


@needs_embedding
def test_a_left_out_word_is_placed_near_its_own_curve(model):
    """Leave-one-out: 'crunchy' removed from the vocabulary is placed from its text (nearest: 'crunch')."""
    from semeq.dsp.biquad import eq_response

    interp = understand("crunchy", model, exclude={"crunchy"})
    assert all(t.word != "crunchy" or t.source == "embedding" for t in interp.terms)
    z = interp.terms[0].latent if interp.terms[0].latent is not None else model.embedding(interp.terms[0].word)
    placed = eq_response(model.decode(np.asarray(z)), GRID)
    own = eq_response(model.word_eq("crunchy"), GRID)
    band = (GRID >= 100) & (GRID <= 10000)
    assert np.corrcoef(placed[band], own[band])[0, 1] > 0.3


def _modules_after(code: str) -> list[str]:
    probe = code + ("\nimport sys, json\nprint(json.dumps([m for m in ('wordllama', 'tokenizers', 'huggingface_hub')"
                    " if m in sys.modules]))")
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_semeq_and_known_words_do_not_load_the_embedding():
    assert _modules_after("import semeq") == []
    code = ("from semeq.eq_model import EQModel\nfrom semeq.phrases import understand\nm = EQModel.load()\n"
            "understand('a bit darker and less harsh', m); understand('más cálido', m)")
    assert _modules_after(code) == []


@needs_embedding
def test_an_unseen_word_loads_the_table_but_never_imports_wordllama():
    code = "from semeq.eq_model import EQModel\nfrom semeq.phrases import understand\nunderstand('silky', EQModel.load())"
    assert _modules_after(code) == ["tokenizers"]
