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

What the parser reads (English and Spanish; case, accents and spacing never matter)
-------------------------------------------------------------------------------------
- **Words**: a vocabulary word, its inflections and derivations ("darker", "warmest", "muddiness",
  "warmth", "brighten"; "cálida", "oscuras", "calidez", "brillantísimo": :func:`base_forms`), a
  Spanish word through a small glossary ("cálido" -> warm, "brillante" -> bright,
  :data:`SPANISH_GLOSSES`) and a few studio synonyms ("treble" -> bright, :data:`SYNONYMS`). Of the
  candidates that the vocabulary holds, the best-supported one is used, and a note says so.
- **Unseen words**: anything else is placed from its meaning by an offline text embedding
  (:mod:`semeq.text_embedding`); below its similarity threshold it is refused.
- **Polarity**: "less", "not so", "too", "reduce/tame/remove/cut the X", "no X", "menos",
  "demasiado", "quita", "sin"... give sign -1; "more", "add", "boost", "not enough", "más",
  "falta"... give +1. A statement of a problem ("the vocal is harsh", "suena turbio") means
  less of it. A sign carries over "and"/"y" to a next word that has none ("too boomy and thin").
- **Amounts** (:data:`AMOUNT_LEVELS`, monotone): the first part's amount sets
  :attr:`Interpretation.intensity`; in later parts an amount sets that part's weight
  (:data:`AMOUNT_WEIGHTS`: "warm with a touch of air" -> warm 0.77, air 0.23).
- **Combinations**: "and", "but", "with", "plus", ",", "+", "y", "pero", "con"... split the phrase
  into parts whose weights sum to 1.
- **Instruments and sections** ("the vocal", "drums", "la voz"): :attr:`Interpretation.scope`,
  with a note that the EQ applies to the whole mix.
- **Refusals** (:class:`semeq.errors.UnknownWordError`, one line with the closest known words):
  an empty phrase, a phrase that names no quality ("a bit more"), gibberish, a word said both
  ways ("warm but not warm").

Amount table
------------
======  =========  ================================================================================
level   intensity  words
======  =========  ================================================================================
touch   0.15       a touch, a hint, a tad, a smidge, barely; un toque, un pelín, una pizca, un poquito
bit     0.30       a bit, a little, slightly, somewhat, mildly; un poco, ligeramente, algo, levemente
(none)  0.50       :data:`semeq.request.DEFAULT_INTENSITY`
quite   0.60       quite, fairly, rather, noticeably, too, too much; bastante, demasiado
much    0.80       much, a lot, lots, very, way, far, really, heavily, way too, much too; mucho, muy
max     0.90       extremely, hugely, drastically, completely, as ... as possible, superlatives
                   ("warmest", "the most"); muchísimo, extremadamente, "-ísimo"
======  =========  ================================================================================
"""

from __future__ import annotations

import difflib
import re
import threading
import unicodedata
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Collection

import numpy as np

from .errors import UnknownWordError

if TYPE_CHECKING:
    from .eq_model import EQModel, VocabularyEntry

__all__ = ["Term", "Interpretation", "understand", "normalise", "fold", "base_forms", "describe_curve",
           "AMOUNT_LEVELS", "TYPO_RATIO", "AMOUNT_WEIGHTS", "SPANISH_GLOSSES", "SYNONYMS", "LOW_CONFIDENCE"]

LOW_CONFIDENCE = 0.5
"""A term below this confidence gets a note saying what its curve does (:func:`describe_curve`)."""


def normalise(text: str) -> str:
    """Case, Unicode form and spacing folded: ``"  Warm\\t"`` -> ``"warm"`` (accents kept)."""
    return " ".join(unicodedata.normalize("NFKC", str(text)).split()).lower()


def fold(text: str) -> str:
    """:func:`normalise` without accents: ``"Cálido"`` -> ``"calido"``, ``"más"`` -> ``"mas"``."""
    decomposed = unicodedata.normalize("NFKD", normalise(text))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


# --------------------------------------------------------------------------------------------- tables
# Every key is folded (lower case, no accents); several words are one key with single spaces.

AMOUNT_LEVELS: dict[str, float] = {"touch": 0.15, "bit": 0.30, "quite": 0.60, "much": 0.80, "max": 0.90}
"""The intensity each amount level asks for (see the module's table). Monotone, and the default
(0.5, no amount word) lies between "bit" and "quite"."""

AMOUNT_WEIGHTS: dict[str | None, float] = {"touch": 0.3, "bit": 0.6, None: 1.0, "quite": 1.2, "much": 1.6, "max": 1.8}
"""Relative weight of a later part of a combination by its amount level (the first part counts 1)."""

_AMOUNTS: dict[str, str] = {}
for _level, _words in {
    "touch": "a touch|touch|just a touch|a hint|hint|a hint of|a tad|tad|a smidge|smidge|barely|a whisper|"
             "un toque|toque|un toquecito|un pelin|pelin|una pizca|pizca|un poquito|poquito|apenas|un pelo",
    "bit": "a bit|bit|a little|a little bit|little|slightly|a slight|slight|somewhat|mildly|gently|a tiny bit|"
           "un poco|poco|un poco mas|ligeramente|algo|levemente|un tanto",
    "quite": "quite|fairly|rather|noticeably|clearly|pretty|bastante|notablemente",
    "much": "much|a lot|lots|lots of|a lot of|very|way|far|really|heavily|strongly|significantly|considerably|"
            "seriously|a great deal|plenty|plenty of|super|much more|mucho|mucha|muchos|muchas|muy|harto|super",
    "max": "extremely|hugely|massively|drastically|completely|totally|tons|tons of|as possible|way way|"
           "much much|very very|as much as possible|the most|most|muchisimo|muchisima|extremadamente|"
           "lo mas posible|al maximo|lo mas",
}.items():
    for _w in _words.split("|"):
        _AMOUNTS[_w] = _level

# Direction words: (sign, amount level or None). "too" both flips and sets an amount.
_DIRECTIONS: dict[str, tuple[int, str | None]] = {}
for _sign, _level, _words in (
    (+1, None, "more|add|adds|add some|boost|increase|raise|enhance|bring out|bring up|give it|needs|need|"
               "lacks|lacking|missing|wants|emphasise|emphasize|accentuate|mas|anade|anadir|anadele|agrega|agregar|"
               "sube|subir|aumenta|aumentar|realza|realzar|dale|falta|le falta|necesita|resalta|resaltar|potencia"),
    (+1, None, "not enough|isn't enough|not . enough|no es suficiente|no suficiente|poco ."),
    (-1, None, "less|fewer|reduce|reduced|reducing|cut|cut down|lower|decrease|lessen|minus|lose|drop|fix|"
               "soften|smooth out|take down|turn down|pull back|back off|roll off|dial back|dial down|"
               "menos|reduce|reducir|reduzca|reducele|baja|bajar|bajale|atenua|atenuar|recorta|recortar|"
               "corta|cortar|suaviza|suavizar|disminuye|disminuir|sin|no tan"),
    (-1, "much", "remove|get rid of|kill|eliminate|take away|take out|no more|without|"
                 "quita|quitar|quitale|elimina|eliminar|fuera"),
    (-1, "quite", "too|too much|overly|excessively|excessive|way too|much too|far too|a bit too|a little too|"
                  "too many|demasiado|demasiada|demasiados|demasiadas|muy muy|excesivo|excesivamente"),
    (-1, None, "tame"),
):
    for _w in _words.split("|"):
        if "." not in _w:  # "not . enough" is matched by the parser itself
            _DIRECTIONS[_w] = (_sign, _level)
# "way too": much; "a bit too": bit (the amount words in them win over too's own)
_DIRECTION_AMOUNT_OVERRIDES = {"way too": "much", "much too": "much", "far too": "max", "a bit too": "bit",
                               "a little too": "bit"}
_NEGATIONS = {"not", "no", "don't", "dont", "isn't", "isnt", "aren't", "arent", "never", "ni", "nunca"}
_COPULAS = {"is", "are", "was", "were", "sounds", "seems", "feels", "gets", "it's", "its", "that's", "thats",
            "es", "esta", "estan", "son", "suena", "suenan", "parece", "queda"}
_SUBJECTS = {"it", "they", "this", "that", "mix", "track", "song", "everything", "all", "recording", "master"}
_MAKE = {"make", "makes", "making", "let", "lets", "let's", "help"}
_SEPARATORS = {"and": "and", ",": "and", "&": "and", "+": "and", ";": "and", "/": "and", "y": "and", "e": "and",
               "as well as": "and", "also": "and", "ademas": "and", "plus": "with", "with": "with", "con": "with",
               "but": "but", "yet": "but", "while": "but", "though": "but", "pero": "but", "aunque": "but",
               "sino": "but", "mientras": "but"}
_FILLERS = set("""the a an it this that these those my our your his her their me us i you we please make makes
making made sound sounding tone tones eq eqs mix mixes track tracks song songs recording overall whole entire
just now again still than before bit of to in on for at by some something thing things kind kinda sort sorta
maybe could would should can will let let's lets like want wanting get getting give try one
so bring up down out off then there here general generally everything all
el la los las lo un una unos unas de del al a que hazlo haz hacer hacerlo ponlo pon poner sonido sonidos
mezcla cancion tema por favor porfa quiero quisiera algo un poco todo toda mas bien ahora se le me mi mis su sus
""".split()) - set(_AMOUNTS) - set(_DIRECTIONS)

_SCOPES = {
    "vocal": "vocal", "vocals": "vocal", "vox": "vocal", "voice": "vocal", "voices": "vocal", "singer": "vocal",
    "singing": "vocal", "lead vocal": "vocal", "lead vocals": "vocal", "backing vocals": "backing vocals",
    "drums": "drums", "drum": "drums", "kit": "drums", "kick": "kick", "kick drum": "kick", "snare": "snare",
    "hihat": "hi-hat", "hi-hat": "hi-hat", "hats": "hi-hat", "cymbals": "cymbals", "toms": "toms",
    "overheads": "overheads", "percussion": "percussion", "bass guitar": "bass", "guitar": "guitar",
    "guitars": "guitar", "piano": "piano", "keys": "keys", "keyboard": "keys", "keyboards": "keys", "synth": "synth",
    "synths": "synth", "pad": "pads", "pads": "pads", "strings": "strings", "violin": "strings", "violins": "strings",
    "cello": "strings", "horns": "horns", "brass": "brass", "sax": "sax", "saxophone": "sax", "trumpet": "trumpet",
    "organ": "organ", "choir": "choir", "orchestra": "orchestra", "flute": "flute", "bass": "bass",
    "voz": "vocal", "voces": "vocal", "cantante": "vocal", "bateria": "drums", "bombo": "kick", "caja": "snare",
    "platos": "cymbals", "guitarra": "guitar", "guitarras": "guitar", "teclado": "keys", "teclados": "keys",
    "sintetizador": "synth", "sinte": "synth", "cuerdas": "strings", "violin es": "strings", "violines": "strings",
    "metales": "brass", "saxo": "sax", "saxofon": "sax", "trompeta": "trumpet", "organo": "organ", "coro": "choir",
    "coros": "backing vocals", "flauta": "flute", "percusion": "percussion", "bajo": "bass",
}
"""Words that name a part of a recording: a scope, unless they are the phrase's only word."""

SPANISH_GLOSSES: dict[str, tuple[str, ...]] = {
    "calido": ("warm",), "templado": ("warm",), "calidez": ("warm",), "caliente": ("hot",),
    "brillante": ("bright",), "brillo": ("bright",), "brillantez": ("bright",), "luminoso": ("bright",),
    "oscuro": ("dark",), "oscuridad": ("dark",), "sombrio": ("dark",), "claro": ("clear",), "claridad": ("clear",),
    "nitido": ("crisp", "clear"), "nitidez": ("crisp", "clear"), "definido": ("defined",), "definicion": ("defined",),
    "limpio": ("clean",), "turbio": ("muddy",), "embarrado": ("muddy",), "fangoso": ("muddy",), "barroso": ("muddy",),
    "graves": ("bass",), "agudos": ("bright",), "medios": ("mid",), "frio": ("cold",), "fresco": ("fresh",),
    "suave": ("soft", "smooth"), "duro": ("hard",), "aspero": ("harsh",), "aspereza": ("harsh",),
    "estridente": ("shrill",), "chillon": ("shrill",), "cristalino": ("clear",), "aireado": ("airy",),
    "aereo": ("airy",), "etereo": ("airy",), "aire": ("air", "airy"), "profundo": ("deep",), "profundidad": ("deep",),
    "lleno": ("full",), "plenitud": ("full",), "cuerpo": ("body", "full"), "delgado": ("thin",), "fino": ("thin",),
    "flaco": ("thin",), "metalico": ("metallic",), "enlatado": ("tinny",), "lata": ("tinny",),
    "retumbante": ("boomy",), "retumbe": ("boomy",), "resonante": ("resonant",), "apagado": ("muffled", "dull"),
    "opaco": ("dull",), "sordo": ("muffled",), "nasal": ("nasal",), "pesado": ("heavy",), "ligero": ("light",),
    "liviano": ("light",), "fuerte": ("strong", "loud"), "alto": ("high",), "bajo": ("low",), "dulce": ("sweet",),
    "tranquilo": ("calm",), "calmado": ("calm",), "triste": ("sad",), "feliz": ("happy",), "alegre": ("happy",),
    "seco": ("dry",), "humedo": ("wet",), "mojado": ("wet",), "grueso": ("thick",), "gordo": ("fat",),
    "hueco": ("hollow",), "potente": ("powerful",), "pegada": ("punch",), "contundente": ("punchy",),
    "presencia": ("presence",), "crujiente": ("crunchy",), "rico": ("rich",), "agresivo": ("aggressive",),
    "ruidoso": ("noisy",), "silencioso": ("quiet",), "nasalidad": ("nasal",), "encajonado": ("boxy",),
}
"""Spanish descriptors (folded, masculine singular) and the English vocabulary words they gloss."""

SYNONYMS: dict[str, tuple[str, ...]] = {
    "treble": ("bright",), "highs": ("bright",), "high end": ("bright",), "high-end": ("bright",),
    "top end": ("bright",), "top-end": ("bright",), "lows": ("bass",), "low end": ("bass",),
    "low-end": ("bass",), "bottom": ("bass",), "bottom end": ("bass",), "bottom-end": ("bass",),
    "midrange": ("mid",), "middle": ("mid",), "clarity": ("clear",), "definition": ("defined",),
    "fullness": ("full",), "depth": ("deep",), "brilliance": ("bright", "brilliant"), "mud": ("muddy",),
    "boom": ("boomy",), "air": ("airy",), "boxiness": ("boxy",), "honk": ("honky",), "sizzly": ("sizzle",),
}
"""Studio words (folded) and the vocabulary words that say the same."""

_IRREGULAR = {"depth": "deep", "width": "wide", "clarity": "clear", "presence": "present", "length": "long",
              "strength": "strong", "breadth": "broad", "heat": "hot", "definition": "defined",
              "brilliance": "brilliant", "warmer": "warm", "dulzura": "dulce", "dulzor": "dulce"}

TYPO_RATIO = 0.82
"""An unknown word this close to a vocabulary word (difflib ratio: "brigth" ~ bright 0.83) is taken
for a typo and refused with suggestions rather than placed by meaning (the embedding reads
sub-words, so a typo lands near unrelated words)."""
_TYPOS = {"birght", "brght", "brite", "wawrm", "warn", "warth"}  # the SAFE-DB reader's known typos

_TOKEN_RE = re.compile(r"[a-z0-9ñ]+(?:['’\-][a-z0-9ñ]+)*|[,;+&/]")


def _tokens(folded_text: str) -> list[str]:
    return [t.replace("’", "'") for t in _TOKEN_RE.findall(folded_text)]


# --------------------------------------------------------------------------------------------- lemmas
def _undouble(stem: str) -> list[str]:
    out = [stem]
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouls":
        out.append(stem[:-1])  # thinn -> thin, hott -> hot, mudd -> mud
    return out


def _base_step(t: str) -> set[str]:
    out: set[str] = set()
    if t in _IRREGULAR:
        out.add(_IRREGULAR[t])
    if len(t) <= 3:
        return out
    # English: comparatives, superlatives, nouns, verbs, adverbs, -y adjectives
    for suffix, repl in (("iest", "y"), ("ier", "y"), ("iness", "y"), ("ily", "y")):
        if t.endswith(suffix) and len(t) - len(suffix) >= 2:
            out.add(t[: -len(suffix)] + repl)
    for suffix in ("est", "er", "ness", "th", "en", "ened", "ening", "ens", "ly", "ish", "y", "s", "ed", "ing"):
        if t.endswith(suffix) and len(t) - len(suffix) >= 2:
            stem = t[: -len(suffix)]
            if suffix == "s" and (stem.endswith("s") or stem.endswith("u")):
                continue  # bass, less, plus
            for s in _undouble(stem):
                out.add(s)
                if suffix in ("est", "er", "en", "ened", "ening", "ens", "ish", "y", "ed", "ing"):
                    out.add(s + "e")  # nicer -> nice, sizzly -> sizzle
    # Spanish: gender, number, superlative, abstract nouns
    for suffix, repls in (("isimos", ("o", "e", "")), ("isimas", ("o", "e", "")), ("isimo", ("o", "e", "")),
                          ("isima", ("o", "e", "")), ("idad", ("o", "e", "")), ("ez", ("o", "e")),
                          ("os", ("o",)), ("as", ("o", "a")), ("es", ("", "e")), ("a", ("o",)), ("s", ("",))):
        if t.endswith(suffix) and len(t) - len(suffix) >= 3:
            for r in repls:
                out.add(t[: -len(suffix)] + r)
    out.discard(t)
    return {s for s in out if len(s) >= 2}


def base_forms(word: str) -> frozenset[str]:
    """The word and the base forms a small rule-based English + Spanish lemmatiser derives from it
    (two steps): ``"muddiness"`` -> {muddiness, muddy, mud, ...}; ``"cálidas"`` -> {calidas, calido, ...}.

    Over-generation is harmless: a form counts only where the vocabulary (or a glossary) holds it.
    """
    t = fold(word)
    forms = {t}
    frontier = {t}
    for _ in range(2):
        frontier = set().union(*(_base_step(f) for f in frontier)) - forms if frontier else set()
        forms |= frontier
    return frozenset(forms)


# --------------------------------------------------------------------------------------------- the model's words
class _Lexicon:
    """The vocabulary of one EQ model, indexed by folded word and by base form."""

    def __init__(self, model: "EQModel", exclude: frozenset[str]) -> None:
        self.model = model
        self.exclude = exclude
        self.entries: list = []
        self.by_key: dict[str, list[int]] = {}
        self.by_base: dict[str, set[int]] = {}
        for e in model.vocabulary:
            key = fold(e.word)
            if key in exclude or normalise(e.word) in exclude:
                continue
            i = len(self.entries)
            self.entries.append(e)
            self.by_key.setdefault(key, []).append(i)
            if " " not in key:
                for b in base_forms(key):
                    self.by_base.setdefault(b, set()).add(i)
        self.single_keys = sorted(k for k in self.by_key if " " not in k)
        best = sorted(range(len(self.entries)), key=lambda i: -self.entries[i].confidence)
        self.best_words = [self.entries[i].word for i in best[:6]]

    def candidates(self, token: str) -> list[tuple[int, str]]:
        """``(entry index, how)`` of every vocabulary reading of a folded token."""
        out: dict[int, str] = {}
        for i in self.by_key.get(token, []):
            out[i] = "word"
        forms = base_forms(token)
        for b in forms:
            for i in self.by_base.get(b, ()):
                out.setdefault(i, "inflection")
        for table, how in ((SYNONYMS, "synonym"), (SPANISH_GLOSSES, "spanish")):
            for b in sorted(forms):
                for target in table.get(b, ()):
                    for i in self.by_key.get(fold(target), []):
                        out.setdefault(i, how)
        return sorted(out.items())

    def closest(self, word: str, n: int = 5) -> list[str]:
        close = difflib.get_close_matches(fold(word), self.single_keys, n=n, cutoff=0.6)
        words = []
        for k in close:
            e = max((self.entries[i] for i in self.by_key[k]), key=lambda e: e.confidence)
            words.append(e.word)
        return words or list(self.best_words[:n])


_LEXICONS: "weakref.WeakKeyDictionary[EQModel, dict]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _lexicon(model: "EQModel", exclude: frozenset[str]) -> _Lexicon:
    with _LOCK:
        cache = _LEXICONS.setdefault(model, {})
        lex = cache.get(exclude)
        if lex is None:
            if len(cache) > 64:
                cache.clear()
            lex = cache[exclude] = _Lexicon(model, exclude)
        return lex


# --------------------------------------------------------------------------------------------- dataclasses
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
    """For ``"embedding"`` terms: the vocabulary words nearest in meaning, with their cosine similarities."""
    matched: str = ""
    """The part of the text this term was read from."""
    language: str = ""
    """The vocabulary entry's language ("en", "es"); "" for embedding terms."""
    support: str = ""
    """What the word's curve rests on: "SAFE-DB, 7 settings", "Audealize, 31 raters", "placed from its meaning"."""
    reading: str = "word"
    """How the text became this word: "word", "inflection", "synonym", "spanish" or "embedding"."""

    def to_dict(self) -> dict:
        d = {"word": self.word, "sign": self.sign, "weight": round(self.weight, 4), "source": self.source,
             "confidence": round(self.confidence, 4), "matched": self.matched, "language": self.language,
             "support": self.support, "reading": self.reading}
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
    """The intensity the phrase's amount words ask for ("a bit": 0.3...), None when it names none."""
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
        """One vocabulary word as typed, toward it, nothing else said and nothing to note."""
        return (len(self.terms) == 1 and self.terms[0].sign > 0 and self.terms[0].source == "vocabulary"
                and self.amount is None and self.scope is None and not self.notes)

    def describe(self) -> str:
        """One line: how the phrase was understood."""
        parts = []
        for t in self.terms:
            what = ("less " if t.sign < 0 else "more ") + repr(t.word)
            if t.source == "embedding":
                near = ", ".join(f"{w} {a:.2f}" for w, a in t.neighbours[:3])
                what += f" (not in the vocabulary: placed from its meaning, near {near})"
            elif t.support:
                what += f" ({t.support})"
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


# --------------------------------------------------------------------------------------------- curves in words
def _fmt_hz(f: float) -> str:
    if f >= 1000.0:
        k = f / 1000.0
        return f"{k:.0f} kHz" if k >= 10 or abs(k - round(k)) < 0.05 else f"{k:.1f} kHz"
    return f"{f:.0f} Hz" if f >= 100 else f"{f:.0f} Hz"


def _fmt_range(lo: float, hi: float, f_min: float, f_max: float) -> str:
    if lo <= f_min * 1.01:
        return f"below {_fmt_hz(hi)}"
    if hi >= f_max * 0.99:
        return f"above {_fmt_hz(lo)}"
    a, b = _fmt_hz(lo), _fmt_hz(hi)
    if a.endswith("kHz") and b.endswith("kHz"):
        return f"{a[:-4]}-{b}"
    if a.endswith(" Hz") and b.endswith(" Hz"):
        return f"{a[:-3]}-{b}"
    return f"{a}-{b}"


def describe_curve(curve_db, freqs_hz, *, flat_db: float = 0.3) -> str:
    """What an EQ curve does, in sound terms: ``"boosts 2-4.6 kHz by 1.5 dB and cuts below 160 Hz by 2.0 dB"``.

    Parameters
    ----------
    curve_db : ndarray [shape=(n,)]
        The curve in dB (a word curve: :meth:`semeq.SemanticEQ.word_curve_db`).
    freqs_hz : ndarray [shape=(n,)]
        Its frequencies (:data:`semeq.analysis.GRID_FREQS_HZ`), ascending.
    flat_db : float
        Below this peak magnitude the curve is called nearly flat.

    Returns
    -------
    str
        The largest feature (the contiguous band around the largest magnitude where the curve
        keeps at least half of it), then the largest feature of the other sign when it reaches a
        third of the first and ``flat_db``. Only 30 Hz-16 kHz is read.

    Examples
    --------
    >>> import numpy as np
    >>> f = 20.0 * 2.0 ** (np.arange(60) / 6.0)
    >>> describe_curve(np.where((f > 2000) & (f < 5000), 1.5, 0.0), f)
    'boosts 2-4.6 kHz by 1.5 dB'
    >>> describe_curve(np.zeros(60), f)
    'is nearly flat (within 0.3 dB)'
    """
    curve = np.asarray(curve_db, dtype=np.float64)
    freqs = np.asarray(freqs_hz, dtype=np.float64)
    keep = (freqs >= 30.0) & (freqs <= 16000.0)
    if keep.sum() >= 2:
        curve, freqs = curve[keep], freqs[keep]
    if curve.size == 0 or float(np.max(np.abs(curve))) < flat_db:
        return f"is nearly flat (within {flat_db:g} dB)"

    def feature(sign: int) -> tuple[float, str] | None:
        signed = sign * curve
        k = int(np.argmax(signed))
        peak = float(signed[k])
        if peak <= 0:
            return None
        lo = hi = k
        while lo > 0 and signed[lo - 1] >= 0.5 * peak:
            lo -= 1
        while hi < signed.size - 1 and signed[hi + 1] >= 0.5 * peak:
            hi += 1
        verb = "boosts" if sign > 0 else "cuts"
        return peak, f"{verb} {_fmt_range(freqs[lo], freqs[hi], freqs[0], freqs[-1])} by {peak:.1f} dB"

    first_sign = 1 if float(np.max(curve)) >= -float(np.min(curve)) else -1
    first = feature(first_sign)
    assert first is not None  # the curve is not flat
    second = feature(-first_sign)
    if second is not None and second[0] >= max(flat_db, first[0] / 3.0):
        return f"{first[1]} and {second[1]}"
    return first[1]


# --------------------------------------------------------------------------------------------- the parser
@dataclass
class _Part:
    """One part of a combination, as read."""

    sep: str = "start"  # the separator before it: start | and | with | but
    sign: int | None = None  # explicit direction
    negated: bool = False
    copula: bool = False
    comparative: bool = False
    amount: str | None = None  # amount level
    amount_text: str | None = None
    amount_implied: bool = False  # the amount comes with a direction word ("too", "remove")
    words: list[tuple[str, str]] = field(default_factory=list)  # (folded token, as typed)
    scopes: list[tuple[str, str]] = field(default_factory=list)  # (scope name, token)


_MAX_NGRAM = 4


def _match(tokens: list[str], i: int, table) -> tuple[int, str] | None:
    for n in range(min(_MAX_NGRAM, len(tokens) - i), 0, -1):
        key = " ".join(tokens[i:i + n])
        if key in table:
            return n, key
    return None


def _is_comparative(token: str) -> bool:
    return token.endswith(("er", "ier", "est", "iest")) or token.endswith(("isimo", "isima", "isimos", "isimas"))


def _is_superlative(token: str) -> bool:
    return token.endswith(("est", "isimo", "isima", "isimos", "isimas"))


def _read_parts(tokens: list[str]) -> list[_Part]:
    """Split the tokens into the parts of a combination and read each part's markers and words."""
    tokens = list(tokens)
    parts = [_Part()]
    i = 0
    while i < len(tokens):
        part = parts[-1]
        t = tokens[i]
        if t in ("not", "isn't", "isnt", "no") and "enough" in tokens[i + 1:i + 4]:
            tokens.pop(tokens.index("enough", i + 1))  # "not warm enough", "not enough bass": more of it
            part.sign = +1
            i += 1
            continue
        hit = _match(tokens, i, _SEPARATORS)
        if hit is not None:
            n, key = hit
            if part.words or part.scopes:
                parts.append(_Part(sep=_SEPARATORS[key]))
            i += n
            continue
        hit = _match(tokens, i, _DIRECTIONS)
        if hit is not None:
            n, key = hit
            sign, level = _DIRECTIONS[key]
            part.sign = sign
            level = _DIRECTION_AMOUNT_OVERRIDES.get(key, level)
            if level is not None and (part.amount is None or part.amount_implied):
                part.amount, part.amount_text = level, key
                part.amount_implied = key not in _DIRECTION_AMOUNT_OVERRIDES
            i += n
            continue
        hit = _match(tokens, i, _AMOUNTS)
        if hit is not None:
            n, key = hit
            level = _AMOUNTS[key]
            if part.amount is None or part.amount_implied or AMOUNT_LEVELS[level] > AMOUNT_LEVELS[part.amount]:
                part.amount, part.amount_text, part.amount_implied = level, key, False
            i += n
            continue
        if t in _NEGATIONS:
            part.negated = not part.negated
            i += 1
            continue
        if t in _COPULAS or (t in ("sound", "feel", "seem", "get") and i > 0
                             and (tokens[i - 1] in _SUBJECTS or tokens[i - 1] in _SCOPES)):
            part.copula = not (_MAKE & set(tokens[:i]))  # "the drums sound muddy", not "make it sound warm"
            i += 1
            continue
        hit = _match(tokens, i, _SCOPES)
        if hit is not None:
            n, key = hit
            part.scopes.append((_SCOPES[key], key))
            i += n
            continue
        hit = _match(tokens, i, SYNONYMS)
        if hit is not None and hit[0] > 1:  # several words: "low end", "top end"
            n, key = hit
            part.words.append((key, key))
            i += n
            continue
        if t not in _FILLERS and not t.isdigit():
            part.words.append((t, t))
        i += 1
    return [p for p in parts if p.words or p.scopes]


def _support(entry: "VocabularyEntry") -> str:
    bits = []
    if entry.n_safe:
        bits.append(f"SAFE-DB, {entry.n_safe} setting{'s' if entry.n_safe != 1 else ''}")
    if entry.n_audealize:
        bits.append(f"Audealize, {entry.n_audealize} rater{'s' if entry.n_audealize != 1 else ''}")
    return "; ".join(bits) or f"{entry.count} examples"


def _word_curve(model: "EQModel", latent: np.ndarray) -> np.ndarray:
    from .analysis import GRID_FREQS_HZ
    from .dsp.biquad import eq_response

    return eq_response(model.decode(np.asarray(latent, dtype=np.float64)), GRID_FREQS_HZ)


def understand(text: str, model: "EQModel", *, exclude: Collection[str] = ()) -> Interpretation:
    """Understand a phrase against ``model``'s vocabulary.

    Parameters
    ----------
    text : str
        A word or phrase, English or Spanish: "warm", "a bit darker", "too boomy", "less harsh",
        "warm with a touch of air", "the vocal is harsh", "más cálido", "menos brillante".
    model : EQModel
    exclude : collection of str
        Vocabulary words treated as unknown (leave-one-out evaluation:
        ``benchmarks/eval_vocabulary.py``).

    Returns
    -------
    Interpretation
        Terms whose weights sum to 1, the amount's intensity, the scope and notes.

    Raises
    ------
    UnknownWordError
        An empty phrase, a phrase naming no quality, a word that cannot be placed (gibberish),
        or a word asked for both ways; the one-line message lists the closest known words.

    Examples
    --------
    >>> from semeq.eq_model import EQModel
    >>> m = EQModel.load()
    >>> understand("a bit darker", m).label, understand("a bit darker", m).intensity
    ('dark', 0.3)
    >>> understand("too boomy", m).label
    'less boomy'
    """
    if not isinstance(text, str) or not normalise(text):
        raise UnknownWordError("the target is empty: name a word such as 'warm', 'bright' or 'airy'")
    excluded = frozenset(fold(w) for w in exclude)
    lex = _lexicon(model, excluded)
    folded = fold(text)
    tokens = _tokens(folded)
    parts = _read_parts(tokens)
    if not any(p.words or p.scopes for p in parts):
        whole = lex.by_key.get(folded)
        if whole:
            return _single_entry(text, lex, whole)
        hint = ", ".join(lex.best_words[:5])
        raise UnknownWordError(f"\"{text.strip()}\" names no sound quality; try a word such as {hint}")

    notes: list[str] = []
    parts, scope, scope_token = _split_scope(text, parts)
    resolved = _resolve_parts(text, parts, lex, model, excluded)
    signs = _signs(parts, resolved, notes)
    terms = _terms(text, parts, resolved, signs, model, notes)
    main = parts[0]
    intensity = AMOUNT_LEVELS[main.amount] if main.amount is not None else None
    amount = main.amount_text if main.amount is not None else None
    if scope is not None:
        notes.append(f"'{scope_token}' names a part of the recording: the EQ applies to the whole mix, "
                     f"not to the {scope} alone")
    confidence = float(sum(t.weight * t.confidence for t in terms))
    return Interpretation(text=text, terms=tuple(terms), intensity=intensity, amount=amount, scope=scope,
                          confidence=confidence, notes=tuple(dict.fromkeys(notes)))


def _split_scope(text: str, parts: list) -> tuple[list, str | None, str | None]:
    """The parts that name qualities, and the part of the mix the phrase names (if any)."""
    scope: str | None = None
    scope_token: str | None = None
    any_words = any(p.words for p in parts)
    for p in parts:  # a scope-only part is a descriptor when it says more or less of it ("less bass")
        if p.scopes and not p.words and (not any_words or p.sign is not None or p.amount is not None or p.negated):
            p.words.extend((tok, tok) for _, tok in p.scopes)
            p.scopes = []
        if p.scopes and scope is None:
            scope, scope_token = p.scopes[0]
    parts = [p for p in parts if p.words]
    if not parts:
        raise UnknownWordError(f"\"{text.strip()}\" names a part of the mix but no sound quality; "
                               f"try \"the {scope_token} is harsh\" or \"warmer {scope_token}\"")
    return parts, scope, scope_token


def _resolve_parts(text: str, parts: list, lex, model: "EQModel", excluded) -> list[list[dict]]:
    """Each part's words, resolved against the vocabulary (or placed); UnknownWordError otherwise."""
    resolved: list[list[dict]] = []
    unknown: list[tuple[str, str]] = []
    for p in parts:
        words = []
        for tok, typed in p.words:
            r = _resolve(tok, lex, model, excluded)
            if isinstance(r, str):
                unknown.append((typed, r))
            else:
                words.append(r)
                if _is_comparative(tok) and r["reading"] == "inflection":
                    p.comparative = True
                    if _is_superlative(tok) and p.amount is None:
                        p.amount, p.amount_text = "max", tok
        resolved.append(words)
    if unknown:
        word, why = unknown[0]
        what = f"unknown word '{word}'" if len(unknown) == 1 else "unknown words " + ", ".join(f"'{u}'" for u, _ in unknown)
        raise UnknownWordError(f"{what} in \"{text.strip()}\" ({why}); closest known words: {', '.join(lex.closest(word))}")
    return resolved


def _signs(parts: list, resolved: list[list[dict]], notes: list[str]) -> list[int]:
    """+1 / -1 per part: polarity words, negation, comparatives, problem statements, "and" chains."""
    signs: list[int] = []
    prev_sign, prev_explicit = +1, False
    for k, p in enumerate(parts):
        if p.sign is not None:
            sign, explicit = p.sign, True
            if p.negated:
                sign = -sign
        elif p.negated:
            sign, explicit = -1, True  # "not so harsh", "no mud", "no tan brillante"
        elif p.comparative:  # "warmer" says which way, even after "sounds"
            sign, explicit = +1, True
        elif p.copula:
            sign, explicit = -1, True
            names = " and ".join(repr(r["word"]) for r in resolved[k])
            notes.append(f"read as naming a problem to fix: less {names}")
        elif k > 0 and p.sep == "and" and prev_explicit:
            sign, explicit = prev_sign, True  # "too boomy and thin"
        else:
            sign, explicit = +1, False
        signs.append(sign)
        prev_sign, prev_explicit = sign, explicit
    return signs


def _terms(text: str, parts: list, resolved: list[list[dict]], signs: list[int], model: "EQModel",
           notes: list[str]) -> list[Term]:
    """The weighted terms (weights summing to 1), with notes on readings and thin data."""
    levels = [1.0] + [AMOUNT_WEIGHTS[p.amount] for p in parts[1:]]
    raw: dict[tuple[str, str], dict] = {}
    for p, words, sign, level in zip(parts, resolved, signs, levels):
        for r in words:
            key = (r["word"], r["source"])
            share = level / len(words)
            if key in raw:
                if raw[key]["sign"] != sign:
                    raise UnknownWordError(f"\"{text.strip()}\" asks for both more and less '{r['word']}'; "
                                           f"say one of them")
                raw[key]["weight"] += share
            else:
                raw[key] = dict(r, sign=sign, weight=share)
    total = sum(r["weight"] for r in raw.values())

    terms = []
    for r in raw.values():
        terms.append(Term(word=r["word"], sign=r["sign"], weight=r["weight"] / total, source=r["source"],
                          confidence=r["confidence"], latent=r.get("latent"), neighbours=r.get("neighbours", ()),
                          matched=r["matched"], language=r.get("language", ""), support=r["support"],
                          reading=r["reading"]))
        if r["reading"] in ("inflection", "synonym", "spanish") and fold(r["matched"]) != fold(r["word"]):
            why = {"inflection": "", "synonym": " (a synonym)", "spanish": " (Spanish gloss)"}[r["reading"]]
            notes.append(f"read '{r['matched']}' as '{r['word']}'{why}, {r['support']}")
        if r["confidence"] < LOW_CONFIDENCE:
            latent = r.get("latent")
            if latent is None:
                latent = model.embedding(r["word"], r.get("language") or None)
            what = ("is not in the vocabulary (placed from its meaning)" if r["source"] == "embedding"
                    else f"has little data ({r['support']})")
            notes.append(f"'{r['word']}' {what}: its curve {describe_curve(_word_curve(model, latent), _grid())}")
    return terms


def _grid() -> np.ndarray:
    from .analysis import GRID_FREQS_HZ

    return GRID_FREQS_HZ


def _single_entry(text: str, lex: _Lexicon, hits: list[int]) -> Interpretation:
    """A vocabulary entry typed whole whose words the parser reads as no quality (e.g. 'add depth')."""
    e = max((lex.entries[i] for i in hits), key=lambda e: e.confidence)
    term = Term(word=e.word, confidence=float(e.confidence), matched=text, language=e.language, support=_support(e))
    return Interpretation(text=text, terms=(term,), confidence=float(e.confidence))


def _resolve(token: str, lex: _Lexicon, model: "EQModel", excluded: frozenset[str]) -> dict | str:
    """The best reading of one folded token, or why it cannot be read."""
    cands = lex.candidates(token)
    if cands:
        own = [c for c in cands if c[1] == "word" and lex.entries[c[0]].confidence >= LOW_CONFIDENCE]
        # the word itself when it is well supported ("claro" keeps its own 34 raters), else the
        # best-supported reading ("brillante", 6 raters -> bright, 495 settings)
        i, how = max(own or cands, key=lambda c: (lex.entries[c[0]].confidence, c[1] == "word"))
        e = lex.entries[i]
        return {"word": e.word, "source": "vocabulary", "confidence": float(e.confidence), "matched": token,
                "language": e.language, "support": _support(e), "reading": how}
    from .text_embedding import EMBEDDING_PACKAGE, MIN_CONFIDENCE, embedding_available, unseen_word_map

    if token in _TYPOS or difflib.get_close_matches(token, lex.single_keys, n=1, cutoff=TYPO_RATIO):
        return "a typo?"  # a misspelt vocabulary word: refused with suggestions, never placed by meaning
    if not embedding_available():
        return f"not in the vocabulary; unseen words need the '{EMBEDDING_PACKAGE}' package"
    placement = unseen_word_map(model, excluded).place(token)
    if placement.confidence < MIN_CONFIDENCE:
        return "not in the vocabulary, and not near enough in meaning to place it"
    return {"word": token, "source": "embedding", "confidence": placement.confidence, "matched": token,
            "latent": tuple(float(v) for v in placement.latent), "neighbours": placement.neighbours,
            "support": "placed from its meaning", "reading": "embedding"}
