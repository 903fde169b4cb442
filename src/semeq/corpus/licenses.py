"""Licence names from Debian copyright files.

Debian's machine-readable format (DEP-5) lists ``Files:`` stanzas, each with a ``License:``
field; the last stanza whose pattern matches a file wins. Packaged paths
(``usr/share/games/x/music/a.ogg``) rarely equal the source paths the stanzas name
(``data/music/*``), so the match here is a heuristic, in this order:

1. the stanza with the most specific pattern tail (most literal characters; two path components
   at least, or a one-component pattern such as ``*.ogg``) matching a tail of the packaged path,
   the last one on ties (``base/music/a.ogg`` covers ``.../music/a.ogg``);
2. else the ``Files: *`` stanza (the last one, if several).

A copyright file without DEP-5 stanzas gets the licence its text names first.
The copyright file itself is kept beside the manifest: the name recorded is a summary of it.
"""

from __future__ import annotations

import fnmatch
import re

__all__ = ["parse_copyright", "license_for_path", "recognise_license"]

# (pattern, short name), most specific first; matched case-insensitively on whitespace-collapsed text.
_KNOWN: tuple[tuple[str, str], ...] = (
    (r"\bCC[- ]BY[- ]SA[- ]?(\d\.\d)", "CC-BY-SA-{0}"),
    (r"creative\s*commons\s*attribution[- ]share\s*alike\s*(\d\.\d)", "CC-BY-SA-{0}"),
    (r"\bCC[- ]BY[- ]?(\d\.\d)", "CC-BY-{0}"),
    (r"creative\s*commons\s*attribution\s*(\d\.\d)", "CC-BY-{0}"),
    (r"\bCC0\b|creative\s*commons\s*zero|public\s*domain\s*dedication", "CC0-1.0"),
    (r"\bGPL[- ]?v?(\d)\+|GNU General Public License.{0,80}?version (\d).{0,40}?or \(?at your option\)? any later", "GPL-{0}+"),
    (r"\bGPL[- ]?v?(\d)\b|GNU General Public License.{0,80}?version (\d)", "GPL-{0}"),
    (r"\bLGPL[- ]?v?(\d(?:\.\d)?)", "LGPL-{0}"),
    (r"\bArtistic\b", "Artistic"),
    (r"\bExpat\b|\bMIT\b|Permission is hereby granted, free of charge, to any person", "Expat"),
    (r"\bBSD[- ](\d)[- ]clause", "BSD-{0}-clause"),
    (r"Redistribution and use in source and binary forms.{0,1200}?Neither the name", "BSD-3-clause"),
    (r"Redistribution and use in source and binary forms", "BSD-2-clause"),
    (r"\bzlib\b", "Zlib"),
    (r"public\s*domain", "public-domain"),
)


def recognise_license(text: str) -> str | None:
    """The first licence name found in free text, e.g. ``"CC-BY-SA-3.0"``; None if none.

    Examples
    --------
    >>> recognise_license("This music is released under Creative Commons Attribution-ShareAlike 3.0")
    'CC-BY-SA-3.0'
    >>> recognise_license("no idea") is None
    True
    """
    flat = " ".join(text.split())
    best = None  # (position in the text, rank in _KNOWN, name): the earliest-named licence wins
    for rank, (pattern, name) in enumerate(_KNOWN):
        m = re.search(pattern, flat, flags=re.IGNORECASE)
        if m and (best is None or (m.start(), rank) < best[:2]):
            groups = [g for g in m.groups() if g]
            best = (m.start(), rank, name.format(*groups) if groups else name.replace("{0}", ""))
    return best[2] if best else None


def parse_copyright(text: str) -> list[tuple[tuple[str, ...], str]]:
    """DEP-5 ``Files:`` stanzas as ``(patterns, licence)``, in file order; [] if not DEP-5.

    The licence is the first line of the stanza's ``License:`` field (e.g. ``"GPL-2+"``,
    ``"CC-BY-SA-3.0 or GPL-2+"``).
    """
    stanzas: list[tuple[tuple[str, ...], str]] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        fields: dict[str, list[str]] = {}
        key = None
        for line in block.split("\n"):
            m = re.match(r"^([A-Za-z][A-Za-z0-9-]*):\s*(.*)$", line)
            if m and not line.startswith((" ", "\t")):
                key = m.group(1).lower()
                fields.setdefault(key, []).append(m.group(2).strip())
            elif key and line.startswith((" ", "\t")):
                fields[key].append(line.strip())
        if "files" in fields and "license" in fields:
            patterns = tuple(p for part in fields["files"] for p in part.split() if p)
            licence = fields["license"][0].strip()
            if licence:
                stanzas.append((patterns, licence))
    return stanzas


def _tails(path: str) -> list[str]:
    parts = [p for p in path.replace("::", "/").split("/") if p and p != "."]
    return ["/".join(parts[i:]) for i in range(len(parts))]


def license_for_path(copyright_text: str, source_path: str) -> str:
    """The licence that covers ``source_path`` (a path inside the package), as one short string.

    Returns ``"unknown"`` when the text names no licence at all.

    Examples
    --------
    >>> text = "Files: *\\nLicense: GPL-2+\\n\\nFiles: data/music/*\\nLicense: CC-BY-SA-3.0\\n"
    >>> license_for_path(text, "usr/share/games/x/data/music/a.ogg")
    'CC-BY-SA-3.0'
    >>> license_for_path(text, "usr/share/games/x/sounds/b.ogg")
    'GPL-2+'
    """
    stanzas = parse_copyright(copyright_text)
    if not stanzas:
        return recognise_license(copyright_text) or "unknown"
    tails = _tails(source_path)
    # Score each stanza by its most specific pattern tail (most literal characters) matching a
    # tail of the path: tails of two components at least ("music/*" of "data/music/*"), or a
    # one-component pattern other than "*" as a whole ("*.ogg", "README"). The last best wins.
    best, best_score = None, 0
    for pats, lic in stanzas:
        for p in pats:
            pattern_tails = [pt for pt in _tails(p) if pt.count("/") >= 1] or ([p] if p.strip("*") else [])
            for pt in pattern_tails:
                if any(fnmatch.fnmatchcase(t, pt) for t in tails):
                    score = len(pt.replace("*", "").replace("?", ""))
                    if score >= best_score:
                        best, best_score = lic, score
                    break
    if best is not None:
        return best
    star = [lic for pats, lic in stanzas if "*" in pats]
    if star:
        return star[-1]
    return stanzas[0][1]
