"""What the user typed, understood: a phrase becomes signed, weighted words of the vocabulary.

:func:`understand` is the one step between the user's text and the word curve ``w(f)`` that the
toward rule reads (:mod:`semeq.semantics`); every front end (CLI, Python API, web page, HTTP
API, streaming ``set_target``, batch) goes through it, by way of :meth:`semeq.SemanticEQ.understand`.

An :class:`Interpretation` holds one or more :class:`Term`: a word of the vocabulary (or an
unseen descriptor placed in the EQ model's latent space from its meaning), its sign (+1: more of
it; -1: less of it, the word's curve with its sign flipped) and its weight in the combination.
The engine turns it into ONE curve: the latent interpolation of the terms when they share a
sign (exactly what ``--blend`` has always done), else the weighted sum of their signed curves in
dB. Either way the toward rule's guarantees (sign, bound, nothing where the recording already
has it) hold for the resulting curve, because they hold for any curve.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import UnknownWordError

if TYPE_CHECKING:
    from .eq_model import EQModel

__all__ = ["Term", "Interpretation", "understand", "normalise"]


def normalise(text: str) -> str:
    """Case, Unicode form and spacing folded: ``"  Warm\\t"`` -> ``"warm"`` (accents kept)."""
    return " ".join(unicodedata.normalize("NFKC", str(text)).split()).lower()


@dataclass(frozen=True, kw_only=True)
class Term:
    """One word of an understood phrase."""

    word: str
    """The vocabulary word (or, for ``source == "embedding"``, the descriptor as typed)."""
    sign: int = 1
    """+1: move toward the word; -1: away from it (the word's curve with its sign flipped)."""
    weight: float = 1.0
    """Share of this term in the combination (the weights of a phrase sum to 1)."""
    source: str = "vocabulary"
    """``"vocabulary"`` (an entry of the EQ model) or ``"embedding"`` (placed from its meaning)."""
    confidence: float = 1.0
    """How much to trust the term's curve, in [0, 1]."""
    latent: tuple[float, ...] | None = None
    """For ``"embedding"`` terms: the placed latent (the EQ model's space); None for vocabulary words."""
    neighbours: tuple[tuple[str, float], ...] = ()
    """For ``"embedding"`` terms: the vocabulary words that placed it, with their weights."""
    matched: str = ""
    """The part of the text this term was read from."""

    def to_dict(self) -> dict:
        d = {"word": self.word, "sign": self.sign, "weight": round(self.weight, 4), "source": self.source,
             "confidence": round(self.confidence, 4), "matched": self.matched}
        if self.neighbours:
            d["neighbours"] = [{"word": w, "weight": round(a, 4)} for w, a in self.neighbours]
        return d


@dataclass(frozen=True, kw_only=True)
class Interpretation:
    """A phrase, understood."""

    text: str
    """The phrase as typed."""
    terms: tuple[Term, ...]
    intensity: float | None = None
    """The intensity the phrase's amount words ask for ("a bit": 0.25...), None when it names none."""
    amount: str | None = None
    """The amount words found ("a bit", "much more"...)."""
    scope: str | None = None
    """An instrument or section the phrase names ("the vocal"): the EQ still applies to the whole mix."""
    confidence: float = 1.0
    notes: tuple[str, ...] = field(default=())

    @property
    def label(self) -> str:
        """A short name for the result: ``"warm"``, ``"less boomy"``, ``"warm + airy"``."""
        parts = []
        for t in self.terms:
            parts.append(("less " if t.sign < 0 else "") + t.word)
        return " + ".join(parts)

    @property
    def slug(self) -> str:
        """The label for a file name: ``warm``, ``less-boomy``, ``warm+airy``."""
        return "+".join(("less-" if t.sign < 0 else "") + t.word for t in self.terms).replace(" ", "-")

    @property
    def is_single_word(self) -> bool:
        """One vocabulary word, toward it, nothing else said."""
        return (len(self.terms) == 1 and self.terms[0].sign > 0 and self.terms[0].source == "vocabulary"
                and self.amount is None and self.scope is None)

    def describe(self) -> str:
        """One line: how the phrase was understood."""
        parts = []
        for t in self.terms:
            what = ("less " if t.sign < 0 else "more ") + repr(t.word)
            if t.source == "embedding":
                near = ", ".join(f"{w} {a:.2f}" for w, a in t.neighbours[:3])
                what += f" (not in the vocabulary: placed from its meaning, near {near})"
            if len(self.terms) > 1:
                what += f" x {t.weight:.2f}"
            parts.append(what)
        text = f'understood "{self.text}" as: ' + " and ".join(parts)
        if self.intensity is not None:
            text += f", intensity from \"{self.amount}\": {self.intensity:.2f}"
        text += f" (confidence {self.confidence:.2f})"
        return text

    def to_dict(self) -> dict:
        return {"text": self.text, "terms": [t.to_dict() for t in self.terms],
                "intensity": None if self.intensity is None else round(self.intensity, 4), "amount": self.amount,
                "scope": self.scope, "confidence": round(self.confidence, 4), "label": self.label,
                "notes": list(self.notes), "description": self.describe()}


def understand(text: str, model: "EQModel") -> Interpretation:
    """Understand a phrase against ``model``'s vocabulary.

    Raises
    ------
    UnknownWordError
        Nothing in the text could be understood; the message lists the closest known words.
    """
    if not isinstance(text, str) or not normalise(text):
        raise UnknownWordError("the target is empty: name a word such as 'warm', 'bright' or 'airy'")
    entry = model.entry(text)  # exact words only (the full parser replaces this)
    return Interpretation(text=text, terms=(Term(word=entry.word, confidence=float(entry.confidence), matched=text),),
                          confidence=float(entry.confidence))
