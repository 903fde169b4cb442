"""Open vocabulary: unseen words, phrases on real music, speed and size (issue 16).

    PYTHONPATH=src python benchmarks/eval_vocabulary.py [--quick] [--data DIR]

(a) Unseen words, leave one out: every SAFE-DB word with >= 5 settings (its real curve: the mean
    response of its settings) and every Audealize word with >= 10 raters (its 40-band curve,
    interpolated in log frequency, times the model's calibrated dB scale). Each word is predicted
    from its text alone with the word removed from the vocabulary (and from the embedding map's
    fit): semeq's whole reader (inflections, glossary, then the text embedding; refusals counted
    as r = 0, a flat EQ), the embedding alone (ridge, what the reader falls back on; also its
    penalty's neighbours and similarity-weighted nearest neighbours), and two baselines: the
    closest string (difflib) and the vocabulary's mean curve. "strict" also removes every
    vocabulary entry containing the word ("warm" takes "warmth", "warm bass"... with it).
    Median Pearson correlation over 100 Hz-10 kHz (the analysis grid's 40 points there), and the
    share of third-octave bands (100 Hz-10 kHz, 21) where the predicted curve has the real sign.
(b) Phrases on real music: each phrase has an expected direction relative to real data curves
    (SAFE-DB or Audealize, never the model's); it is applied with SemanticEQ().apply to excerpts
    of the 12 development clips; the output's long-term spectrum minus the input's (both
    level-normalised), projected on the mean-removed unit reference curve, must have the expected
    sign. Amount families ("a touch warmer" < "warmer" < "much warmer") must order the size of
    the projected change.
(c) Speed and size: a fresh interpreter's ``import semeq`` (and whether it pulls the embedding
    package), the embedding's load and fit time, resolving new phrases once loaded (p50/p95),
    peak RSS, and the installed size of the embedding package and of what it added.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from semeq.analysis import GRID_FREQS_HZ, long_term_spectrum_db  # noqa: E402
from semeq.dsp.biquad import eq_response, response_db_batch  # noqa: E402
from semeq.errors import UnknownWordError  # noqa: E402

BAND = (GRID_FREQS_HZ >= 100.0) & (GRID_FREQS_HZ <= 10000.0)
F_BAND = GRID_FREQS_HZ[BAND]
THIRD_OCTAVES_HZ = 1000.0 * 2.0 ** (np.arange(-10, 11) / 3.0)  # 100 Hz .. 10 kHz, 21 bands
NO_CHANGE_DB = 0.05  # a projected change smaller than this reads as "nothing done"


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / den) if den > 0 else 0.0


# ------------------------------------------------------------------------------------ real curves
class RealCurves:
    """SAFE-DB mean curves and Audealize curves of every word, on any frequencies."""

    def __init__(self, data_dir: Path | None, model) -> None:
        from semeq.data.audealize import AUDEALIZE_CENTRES_HZ, read_audealize
        from semeq.data.safe_db import read_safe_db

        safe = read_safe_db(None if data_dir is None else data_dir / "safe-db" / "SAFEEqualiserUserData.csv")
        aud = read_audealize(None if data_dir is None else data_dir / "audealize" / "eqdescriptors.json")
        self.scale = float(model.meta["audealize_calibration"]["scale_db_per_unit"])
        self.safe_counts = safe.counts()
        self._safe_params = {}
        names = np.array(safe.descriptors, dtype=object)
        for w in self.safe_counts:
            self._safe_params[w] = safe.params[names == w]
        self.aud = {(w, lang): (s, int(n)) for w, lang, s, n in
                    zip(aud.words, aud.languages, aud.settings, aud.n_contributors)}
        self._centres = AUDEALIZE_CENTRES_HZ

    def safe(self, word: str, freqs: np.ndarray) -> np.ndarray:
        return response_db_batch(self._safe_params[word], freqs).mean(axis=0)

    def audealize(self, word: str, lang: str, freqs: np.ndarray) -> np.ndarray:
        settings, _ = self.aud[(word, lang)]
        return self.scale * np.interp(np.log2(freqs), np.log2(self._centres), settings)

    def any(self, word: str, freqs: np.ndarray) -> tuple[np.ndarray, str]:
        """The word's own data curve: SAFE-DB with >= 5 settings, else the source with more support
        (SAFE-DB settings against Audealize raters)."""
        n_safe = self.safe_counts.get(word, 0)
        aud = [(self.aud[(word, lang)][1], lang) for lang in ("en", "es") if (word, lang) in self.aud]
        n_aud, lang = max(aud) if aud else (0, "")
        if n_safe >= 5 or (n_safe and n_safe >= n_aud):
            return self.safe(word, freqs), f"SAFE {n_safe}"
        if n_aud:
            return self.audealize(word, lang, freqs), f"Audealize-{lang} {n_aud}"
        raise KeyError(word)


# ------------------------------------------------------------------------------------ (a) unseen words
def unseen_words(model, real: RealCurves, quick: bool) -> tuple[list[list[str]], dict]:
    from semeq.phrases import understand
    from semeq.text_embedding import UnseenWordMap, load_embedding

    emb = load_embedding()
    items = [(w, "SAFE", real.safe(w, F_BAND), real.safe(w, THIRD_OCTAVES_HZ))
             for w, n in real.safe_counts.items() if n >= 5]
    items += [(w, f"Aud-{lang}", real.audealize(w, lang, F_BAND), real.audealize(w, lang, THIRD_OCTAVES_HZ))
              for (w, lang), (_, n) in real.aud.items() if n >= 10]
    if quick:
        items = items[::3]
    vocab = model.vocabulary
    words = [e.word for e in vocab]
    latents = np.stack([model.embedding(e.word, e.language) for e in vocab])
    conf = np.array([e.confidence for e in vocab])
    vocab_curves = response_db_batch(model.decode_batch(latents), F_BAND)
    vocab_thirds = response_db_batch(model.decode_batch(latents), THIRD_OCTAVES_HZ)
    vectors = emb.embed(words)

    def curves_of_latent(z):
        p = model.decode(np.asarray(z, dtype=np.float64))
        return eq_response(p, F_BAND), eq_response(p, THIRD_OCTAVES_HZ)

    def reader(word, exclude):
        try:
            interp = understand(word, model, exclude=exclude)
        except UnknownWordError:
            return None
        a, b = np.zeros(F_BAND.size), np.zeros(THIRD_OCTAVES_HZ.size)
        for t in interp.terms:
            z = t.latent if t.latent is not None else model.embedding(t.word, t.language or None)
            ca, cb = curves_of_latent(z)
            a, b = a + t.sign * t.weight * ca, b + t.sign * t.weight * cb
        return a, b

    def ridge(word, exclude, lam=1.0):
        z = UnseenWordMap(model, emb, exclude, lam=lam).place(word).latent
        return curves_of_latent(z)

    def knn(word, exclude, k=10, tau=0.05):
        keep = np.array([w.lower() not in exclude for w in words])
        sims = np.where(keep, vectors @ emb.embed([word])[0], -np.inf)
        idx = np.argsort(-sims)[:k]
        a = np.exp((sims[idx] - sims[idx].max()) / tau) * conf[idx]
        return curves_of_latent((a / a.sum()) @ latents[idx])

    def closest_string(word, exclude):
        keep = [i for i, w in enumerate(words) if w.lower() not in exclude]
        best = difflib.get_close_matches(word, [words[i] for i in keep], n=1, cutoff=0.0)[0]
        i = words.index(best)
        return vocab_curves[i], vocab_thirds[i]

    def mean_curve(word, exclude):
        keep = np.array([w.lower() not in exclude for w in words])
        return vocab_curves[keep].mean(axis=0), vocab_thirds[keep].mean(axis=0)

    methods = [("semeq reader (inflections, glossary, embedding)", reader),
               ("embedding alone: ridge, lambda 1 (semeq's)", ridge),
               ("embedding alone: ridge, lambda 0.5", lambda w, e: ridge(w, e, 0.5)),
               ("embedding alone: ridge, lambda 2", lambda w, e: ridge(w, e, 2.0)),
               ("embedding alone: 10 nearest, similarity-weighted", knn),
               ("baseline: closest string (difflib)", closest_string),
               ("baseline: vocabulary mean curve", mean_curve)]
    rows, detail = [], {}
    for strict in (False, True):
        for name, fn in methods:
            rs, signs, answered = [], [], 0
            for word, src, real_band, real_thirds in items:
                exclude = {w.lower() for w in words if word in w.lower()} if strict else {word}
                out = fn(word, exclude)
                if out is None:  # refused: a flat EQ, r = 0, no band right
                    rs.append(0.0)
                    signs.append(0.0)
                    continue
                answered += 1
                pa, pb = out
                r = corr(pa, real_band)
                rs.append(r)
                signs.append(float(np.mean(np.sign(pb) == np.sign(real_thirds))))
                if not strict and name.startswith("semeq"):
                    detail[f"{word} ({src})"] = round(r, 2)
            rows.append([("strict " if strict else "") + name, f"{np.median(rs):.2f}", f"{np.mean(rs):.2f}",
                         f"{np.mean(signs):.0%}", f"{answered}/{len(items)}"])
    return rows, detail


# ------------------------------------------------------------------------------------ (b) phrases on music
# (phrase, category, [(reference word, expected sign, weight)], amount family or None, rank in family)
PHRASES: list[tuple[str, str, list[tuple[str, int, float]], str | None, int]] = [
    # single words and case/accents
    ("warm", "word", [("warm", 1, 1)], None, 0),
    ("Bright", "case", [("bright", 1, 1)], None, 0),
    ("  BOOMY ", "case", [("boomy", 1, 1)], None, 0),
    ("thin", "word", [("thin", 1, 1)], None, 0),
    ("airy", "word", [("airy", 1, 1)], None, 0),
    ("deep", "word", [("deep", 1, 1)], None, 0),
    ("full", "word", [("full", 1, 1)], None, 0),
    ("tinny", "word", [("tinny", 1, 1)], None, 0),
    # comparatives and inflections
    ("darker", "inflection", [("dark", 1, 1)], None, 0),
    ("brighter", "inflection", [("bright", 1, 1)], None, 0),
    ("warmer", "inflection", [("warm", 1, 1)], "warm", 2),
    ("warmest", "inflection", [("warm", 1, 1)], "warm", 4),
    ("muddier", "inflection", [("muddy", 1, 1)], None, 0),
    ("clearer", "inflection", [("clear", 1, 1)], None, 0),
    ("more warmth", "inflection", [("warm", 1, 1)], None, 0),
    ("add some depth", "inflection", [("deep", 1, 1)], None, 0),
    ("crisper", "inflection", [("crisp", 1, 1)], None, 0),
    # polarity
    ("less harsh", "polarity", [("harsh", -1, 1)], "less harsh", 2),
    ("too bright", "polarity", [("bright", -1, 1)], None, 0),
    ("too boomy", "polarity", [("boomy", -1, 1)], "too boomy", 2),
    ("reduce the muddiness", "polarity", [("muddy", -1, 1)], None, 0),
    ("tame the harshness", "polarity", [("harsh", -1, 1)], None, 0),
    ("remove the boominess", "polarity", [("boomy", -1, 1)], None, 0),
    ("not so thin", "polarity", [("thin", -1, 1)], None, 0),
    ("not warm enough", "polarity", [("warm", 1, 1)], None, 0),
    ("cut the mud", "polarity", [("muddy", -1, 1)], None, 0),
    ("less tinny", "polarity", [("tinny", -1, 1)], None, 0),
    ("too dark", "polarity", [("dark", -1, 1)], None, 0),
    ("less muffled", "polarity", [("muffled", -1, 1)], None, 0),
    # amounts
    ("a touch warmer", "amount", [("warm", 1, 1)], "warm", 0),
    ("a bit warmer", "amount", [("warm", 1, 1)], "warm", 1),
    ("much warmer", "amount", [("warm", 1, 1)], "warm", 3),
    ("slightly less harsh", "amount", [("harsh", -1, 1)], "less harsh", 1),
    ("much less harsh", "amount", [("harsh", -1, 1)], "less harsh", 3),
    ("a bit too boomy", "amount", [("boomy", -1, 1)], "too boomy", 1),
    ("way too boomy", "amount", [("boomy", -1, 1)], "too boomy", 3),
    ("a touch brighter", "amount", [("bright", 1, 1)], "bright", 0),
    ("a lot brighter", "amount", [("bright", 1, 1)], "bright", 3),
    ("very airy", "amount", [("airy", 1, 1)], None, 0),
    # combinations
    ("warm and airy", "combination", [("warm", 1, 1), ("airy", 1, 1)], None, 0),
    ("warm but clear", "combination", [("warm", 1, 1), ("clear", 1, 1)], None, 0),
    ("warm with a touch of air", "combination", [("warm", 1, 0.77), ("airy", 1, 0.23)], None, 0),
    ("brighter and less boomy", "combination", [("bright", 1, 1), ("boomy", -1, 1)], None, 0),
    ("less harsh, more full", "combination", [("harsh", -1, 1), ("full", 1, 1)], None, 0),
    ("deep + warm", "combination", [("deep", 1, 1), ("warm", 1, 1)], None, 0),
    ("too boomy and thin", "combination", [("boomy", -1, 1), ("thin", -1, 1)], None, 0),
    # instrument / section words
    ("the vocal is harsh", "scope", [("harsh", -1, 1)], None, 0),
    ("the drums sound muddy", "scope", [("muddy", -1, 1)], None, 0),
    ("warmer vocals", "scope", [("warm", 1, 1)], None, 0),
    ("the guitar is too bright", "scope", [("bright", -1, 1)], None, 0),
    # Spanish (references: the Spanish word's own Audealize curve where it has one)
    ("cálido", "spanish", [("warm", 1, 1)], None, 0),
    ("calido", "spanish", [("warm", 1, 1)], None, 0),
    ("más cálido", "spanish", [("warm", 1, 1)], "es warm", 1),
    ("un poco más cálido", "spanish", [("warm", 1, 1)], "es warm", 0),
    ("mucho más cálido", "spanish", [("warm", 1, 1)], "es warm", 2),
    ("menos brillante", "spanish", [("brillante", -1, 1)], None, 0),
    ("más brillante", "spanish", [("brillante", 1, 1)], None, 0),
    ("demasiado brillante", "spanish", [("brillante", -1, 1)], None, 0),
    ("más claro", "spanish", [("claro", 1, 1)], None, 0),
    ("más oscuro", "spanish", [("oscuro", 1, 1)], None, 0),
    ("más suave", "spanish", [("suave", 1, 1)], None, 0),
    ("menos pesado", "spanish", [("pesado", -1, 1)], None, 0),
    ("la voz es áspera", "spanish", [("harsh", -1, 1)], None, 0),
    ("cálido y claro", "spanish", [("warm", 1, 1), ("claro", 1, 1)], None, 0),
    ("sin graves", "spanish", [("bass", -1, 1)], None, 0),
]


def _reference(real: RealCurves, spec) -> tuple[np.ndarray, str]:
    total = np.zeros(GRID_FREQS_HZ.size)
    names = []
    for word, sign, weight in spec:
        curve, src = real.any(word, GRID_FREQS_HZ)
        c = curve[BAND] - curve[BAND].mean()
        full = np.zeros(GRID_FREQS_HZ.size)
        full[BAND] = c / np.linalg.norm(c)
        total += sign * weight * full
        names.append(f"{'-' if sign < 0 else '+'}{word} [{src}]")
    band = total[BAND] - total[BAND].mean()
    return band / np.linalg.norm(band), ", ".join(names)


def phrases_on_music(engine, real: RealCurves, clips: list[tuple[str, np.ndarray, int]]) -> tuple[list, dict]:
    results = {}  # phrase -> list of projections (dB), one per clip
    rows = []
    per_category: dict[str, list[int]] = {}
    for text, category, spec, _, _ in PHRASES:
        ref, ref_name = _reference(real, spec)
        request = engine.request(text)
        proj = []
        for name, audio, sr in clips:
            out, _ = engine.apply(audio, sr, request)
            delta = long_term_spectrum_db(out, sr) - long_term_spectrum_db(audio, sr)
            d = delta[BAND] - delta[BAND].mean()
            proj.append(float(d @ ref) / np.sqrt(BAND.sum()))  # dB per band, along the reference
        proj = np.array(proj)
        results[text] = proj
        agree = int(np.sum(proj > NO_CHANGE_DB))
        wrong = int(np.sum(proj < -NO_CHANGE_DB))
        still = len(proj) - agree - wrong
        c = per_category.setdefault(category, [0, 0, 0])
        c[0] += agree
        c[1] += wrong
        c[2] += still
        rows.append([text, category, engine.understand(text).label, f"{request.intensity:.2f}", ref_name,
                     f"{agree}/{wrong}/{still}", f"{np.median(proj):+.2f}"])
    return rows, {"results": results, "per_category": per_category}


def amount_order(results: dict) -> tuple[int, int, int]:
    families: dict[str, list[tuple[int, str]]] = {}
    for text, _, _, family, rank in PHRASES:
        if family is not None:
            families.setdefault(family, []).append((rank, text))
    ordered = total = ties = 0
    for members in families.values():
        members.sort()
        for (_, lo), (_, hi) in zip(members, members[1:]):
            for a, b in zip(results[lo], results[hi]):
                total += 1
                if b > a + 0.01:
                    ordered += 1
                elif abs(b - a) <= 0.01:
                    ties += 1
    return ordered, total, ties


# ------------------------------------------------------------------------------------ (c) speed and size
_PROBE = r"""
import json, sys, time
t0 = time.perf_counter(); import semeq; t_import = time.perf_counter() - t0
pulled = sorted(m for m in ("wordllama", "tokenizers", "safetensors", "huggingface_hub") if m in sys.modules)
def rss_mb(key="VmRSS"):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
from semeq.eq_model import EQModel
from semeq.phrases import understand
m = EQModel.load(); understand("warm", m)
rss0 = rss_mb()
from semeq import text_embedding as te
t0 = time.perf_counter(); emb = te.load_embedding(); t_load = time.perf_counter() - t0
t0 = time.perf_counter(); te.unseen_word_map(m); t_fit = time.perf_counter() - t0
rss1 = rss_mb()
print(json.dumps({"import_s": t_import, "pulled": pulled, "load_s": t_load, "fit_s": t_fit, "rss_before_mb": rss0,
                  "rss_after_mb": rss1, "peak_rss_mb": rss_mb("VmHWM")}))  # ru_maxrss would carry the parent's over exec
"""


def _dist_size_mb(name: str) -> float:
    from importlib import metadata

    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return 0.0
    total = 0
    for f in dist.files or ():
        p = Path(dist.locate_file(f))
        if p.is_file():
            total += p.stat().st_size
    return total / 2**20


def speed_and_size(model, quick: bool) -> list[list[str]]:
    from semeq.phrases import understand

    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    probes = [json.loads(subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env,
                                        check=True).stdout.strip().splitlines()[-1]) for _ in range(1 if quick else 3)]
    try:
        understand("silky", model)  # load and fit in this process
    except UnknownWordError:
        pass
    rng = np.random.default_rng(0)
    amounts = ["", "a bit ", "much ", "a touch ", "way too ", "not so ", "less ", "un poco más ", "menos "]
    words = ["warmer", "bright", "boomy", "harshness", "muddy", "airy", "cálido", "brillante", "silky", "smoky",
             "glassy", "crisp", "thin", "oscuro", "deep", "clearer", "honky", "punchy", "nasal", "sparkle"]
    texts = set()
    while len(texts) < (100 if quick else 400):
        a, b = rng.choice(words, 2, replace=False)
        sep = rng.choice([" and ", " but ", " with a touch of ", " y ", ""])
        texts.add(f"{rng.choice(amounts)}{a}" + (f"{sep}{b}" if sep else ""))
    times = []
    for text in sorted(texts):
        t0 = time.perf_counter()
        try:
            understand(text, model)
        except UnknownWordError:
            pass
        times.append(time.perf_counter() - t0)
    times_ms = 1000 * np.array(times)
    new = ["wordllama", "tokenizers", "huggingface-hub", "hf-xet", "pydantic", "pydantic-core", "requests", "toml",
           "pyyaml", "urllib3", "charset-normalizer", "httpx2", "httpcore2", "truststore", "annotated-types",
           "typing-inspection"]
    sizes = {n: _dist_size_mb(n) for n in new}
    med = {k: float(np.median([p[k] for p in probes])) for k in ("import_s", "load_s", "fit_s", "rss_before_mb",
                                                                  "rss_after_mb", "peak_rss_mb")}
    return [
        ["import semeq (fresh interpreter, median)", f"{1000 * med['import_s']:.0f} ms",
         "pulls: " + (", ".join(probes[0]["pulled"]) or "none of wordllama/tokenizers/safetensors/huggingface_hub")],
        ["embedding load (safetensors + tokenizer)", f"{1000 * med['load_s']:.0f} ms", "target <= 1000 ms"],
        ["map fit (638 vocabulary words, ridge)", f"{1000 * med['fit_s']:.0f} ms", "once per EQ model"],
        ["RSS before / after loading", f"{med['rss_before_mb']:.0f} / {med['rss_after_mb']:.0f} MB",
         f"+{med['rss_after_mb'] - med['rss_before_mb']:.0f} MB; peak {med['peak_rss_mb']:.0f} MB (target <= 150)"],
        [f"resolve a new phrase, {len(times)} phrases (p50 / p95 / max)",
         f"{np.median(times_ms):.2f} / {np.percentile(times_ms, 95):.2f} / {times_ms.max():.1f} ms", "target p95 <= 20 ms"],
        ["installed: wordllama", f"{sizes['wordllama']:.1f} MB", "16 MB of it is the table; aim <= 100 MB"],
        ["installed: wordllama + what it added", f"{sum(sizes.values()):.1f} MB",
         ", ".join(f"{k} {v:.1f}" for k, v in sorted(sizes.items(), key=lambda kv: -kv[1]) if v >= 1.0)],
    ]


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a third of the words, 4 clips of 5 s, fewer timings")
    ap.add_argument("--data", type=Path, default=None, help="data folder (default: SEMEQ_DATA or ../shared/data)")
    ap.add_argument("--parts", default="abc", help="which parts to run (default abc)")
    ap.add_argument("--excerpt-s", type=float, default=None, help="excerpt length (default 8 s, 5 s with --quick)")
    args = ap.parse_args(argv)
    from semeq import SemanticEQ
    from semeq.data.paths import find_data_dir

    data_dir = args.data or find_data_dir()
    if data_dir is None:
        print("development data not found: set SEMEQ_DATA or pass --data", file=sys.stderr)
        return 2
    engine = SemanticEQ()
    model = engine.eq_model
    real = RealCurves(data_dir, model)

    if "c" in args.parts:  # first: the probes' timings are cleaner before the audio is loaded
        rows = speed_and_size(model, args.quick)
        table("(c) speed and size (this machine)", ["what", "measured", "note"], rows)
    if "a" in args.parts:
        part_a(model, real, args.quick)
    if "b" in args.parts:
        part_b(engine, real, data_dir, args)
    return 0


def part_a(model, real, quick) -> None:
    t0 = time.perf_counter()
    rows, detail = unseen_words(model, real, quick)
    table("(a) unseen words, leave one out: correlation with the real curve over 100 Hz-10 kHz",
          ["method", "median r", "mean r", "3rd-oct sign", "answered"], rows)
    print("per word (semeq reader): " + ", ".join(f"{k} {v:+.2f}" for k, v in detail.items()))
    print(f"[{time.perf_counter() - t0:.0f} s]")


def part_b(engine, real, data_dir, args) -> None:
    from semeq.io import load_audio

    t0 = time.perf_counter()
    excerpt_s = args.excerpt_s or (5.0 if args.quick else 8.0)
    paths = sorted((data_dir / "music-dev").glob("*.flac"))
    if args.quick:
        paths = paths[::3]
    clips = []
    for p in paths:
        audio, sr, _ = load_audio(p)
        n = int(excerpt_s * sr)
        start = max(0, (audio.shape[1] - n) // 2)
        clips.append((p.stem, audio[:, start:start + n], sr))
    rows, res = phrases_on_music(engine, real, clips)
    table(f"(b) {len(PHRASES)} phrases on {len(clips)} clips ({excerpt_s:g} s from the middle of each): "
          f"agree/wrong/no change (|projection| < {NO_CHANGE_DB} dB)",
          ["phrase", "category", "understood", "intensity", "reference (real data)", "agree/wrong/none",
           "median proj dB"], rows)
    agree = sum(c[0] for c in res["per_category"].values())
    wrong = sum(c[1] for c in res["per_category"].values())
    still = sum(c[2] for c in res["per_category"].values())
    cat_rows = [[k, f"{v[0]}/{v[1]}/{v[2]}", f"{v[0] / max(1, v[0] + v[1]):.1%}"] for k, v in res["per_category"].items()]
    cat_rows.append(["all", f"{agree}/{wrong}/{still}", f"{agree / max(1, agree + wrong):.1%}"])
    table("direction by category (share of the changes that go the expected way; target >= 95 %)",
          ["category", "agree/wrong/none", "agree"], cat_rows)
    print(f"counting 'no change' as a miss: {agree / (agree + wrong + still):.1%}")
    ordered, total, ties = amount_order(res["results"])
    print(f"amount words order the size of the change: {ordered}/{total} = {ordered / max(1, total):.1%} "
          f"(ties {ties}; target >= 90 %)")
    print(f"[{time.perf_counter() - t0:.0f} s]")


if __name__ == "__main__":
    raise SystemExit(main())
