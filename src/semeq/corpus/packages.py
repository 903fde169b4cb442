"""The curated Debian packages the corpus is built from, and the ones it must never touch.

Each entry names the package, why it is here, rough genre tags (from the game's style, the
upstream descriptions and the track names; not from careful listening), the paths inside the
package that hold its music, and, for some, a pinned split. Paths are ``fnmatch`` globs on the
path inside the package (``*`` also crosses ``/``). Short files left in a music folder (stings,
jingles) are dropped by the builder's 30 s minimum.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from ..errors import ParameterError

__all__ = ["PackageSpec", "CURATED", "RESERVED_PATTERNS", "DEV_PACKAGES", "check_allowed", "is_reserved"]

# Kept for independent evaluation: never downloaded, never used for training, tuning or references.
RESERVED_PATTERNS = (
    "wesnoth*music*",  # wesnoth-music and every wesnoth-<version>-music
    "drascula-music",
    "fretsonfire-songs-muldjord",
    "hedgewars-data",
    "openclonk-data",
    "nexuiz-music",
    "colobot-common-sounds",
    "singularity-music",
    "hyperrogue-music",
    "lincity-ng-data",
)

# The packages behind ../shared/data/music-dev (its manifest.csv): pinned to train.
DEV_PACKAGES = (
    "fretsonfire-songs-sectoid", "ufoai-music", "supertux-data", "warzone2100-music",
    "scorched3d-data", "pushover-data", "extremetuxracer-data",
)

_MUSIC_DIRS = ("*/music/*", "*/musics/*", "*/Musics/*", "*/songs/*", "*/tunes/*", "*/soundtrack*/*")


def is_reserved(name: str) -> bool:
    """Whether a package name is reserved for independent evaluation.

    Examples
    --------
    >>> is_reserved("wesnoth-1.16-music"), is_reserved("ufoai-music")
    (True, False)
    """
    low = name.strip().lower()
    return any(fnmatch.fnmatchcase(low, p) for p in RESERVED_PATTERNS)


def check_allowed(name: str) -> None:
    """Raise :class:`ParameterError` if ``name`` is reserved for independent evaluation."""
    if is_reserved(name):
        raise ParameterError(f"package {name!r} is reserved for independent evaluation; the corpus never uses it")


@dataclass(frozen=True, kw_only=True)
class PackageSpec:
    """One curated package: what to take from it and why."""

    name: str
    why: str
    genres: tuple[str, ...]
    include: tuple[str, ...] = _MUSIC_DIRS
    exclude: tuple[str, ...] = ()
    archive_members: tuple[str, ...] = ("*music/*",)  # inside .pk3/.zip files that ``include`` selects
    license: str | None = None  # set only where the copyright file's heuristics would mislead
    split: str | None = None  # pinned split; None lets the hours decide

    def __post_init__(self) -> None:
        check_allowed(self.name)


_KENTA_CHO = "Kenta Cho's shoot-'em-up soundtracks (one composer across five packages: pinned together)"

CURATED: tuple[PackageSpec, ...] = (
    # --- the development clips' packages: train ---
    PackageSpec(name="ufoai-music", why="UFO: Alien Invasion score: many composers, rock, techno, ambient, orchestral",
                genres=("orchestral", "rock", "electronic", "ambient"),
                include=("*.pk3",), split="train"),
    PackageSpec(name="warzone2100-music", why="three Warzone 2100 albums (Opus): industrial, electronic, orchestral",
                genres=("electronic", "orchestral", "rock"), split="train"),
    PackageSpec(name="supertux-data", why="SuperTux music: chiptune-ish pop, orchestral, piano, world",
                genres=("chip", "orchestral", "pop", "piano"), include=("*/supertux2/music/*",), split="train"),
    PackageSpec(name="scorched3d-data", why="Scorched 3D: percussion and ethnic loops",
                genres=("percussion", "world"), split="train"),
    PackageSpec(name="pushover-data", why="Pushover level themes: acoustic, world, flute, guitar",
                genres=("folk", "world", "acoustic"), include=("usr/share/pushover/themes/*",), split="train"),
    PackageSpec(name="extremetuxracer-data", why="Extreme Tux Racer: synth grooves, electric piano, rock",
                genres=("electronic", "jazz-ish", "rock"), split="train"),
    # --- other soundtracks; the hours pick their split unless pinned ---
    PackageSpec(name="planetblupi-music-ogg", why="Planet Blupi: playful acoustic and orchestral pieces",
                genres=("orchestral", "jazz-ish", "pop")),
    PackageSpec(name="widelands-data", why="Widelands: long orchestral and folk-flavoured pieces",
                genres=("orchestral", "folk", "ambient"), include=("*/widelands/data/music/*",)),
    PackageSpec(name="naev-data", why="Naev: space opera score, ambient, electronic, orchestral battle music",
                genres=("orchestral", "ambient", "electronic"), include=("usr/share/naev/dat/snd/music/*",), split="test"),
    PackageSpec(name="flare-game", why="Flare: fantasy orchestral score",
                genres=("orchestral",), include=("*/fantasycore/music/*",), split="test"),
    PackageSpec(name="freedroidrpg-data", why="FreedroidRPG: electronic, ambient, rock",
                genres=("electronic", "ambient", "rock"), include=("*/data/sound/music/*",)),
    PackageSpec(name="megaglest-data", why="MegaGlest faction themes: orchestral, world, rock",
                genres=("orchestral", "world", "rock")),
    PackageSpec(name="xmoto-data", why="X-Moto: rock, funk, electronic",
                genres=("rock", "electronic"), split="test"),
    PackageSpec(name="trackballs-data", why="Trackballs: electronic, rock",
                genres=("electronic", "rock"), split="validation"),
    PackageSpec(name="btanks-data", why="Battle Tanks: electronic, chip, rock",
                genres=("electronic", "chip")),
    PackageSpec(name="frozen-bubble-data", why="Frozen Bubble main themes (the sound effects beside them are < 30 s)",
                genres=("pop", "electronic"), include=("*/frozen-bubble/snd/*zik*",)),
    PackageSpec(name="warmux-data", why="Warmux: comic orchestral, rock, electronic, world",
                genres=("orchestral", "rock", "electronic", "world"), include=("*/warmux/music/*",)),
    PackageSpec(name="marsshooter-data", why="M.A.R.S.: electronic, ambient, orchestral",
                genres=("electronic", "ambient", "orchestral"), include=("*/marsshooter/audio/music/*",)),
    PackageSpec(name="plee-the-bear-data", why="Plee the Bear: rock, pop, orchestral (the sequencer stems are left out)",
                genres=("rock", "pop", "orchestral"), include=("*/plee-the-bear/music/*",), exclude=("*/sequencer/*",),
                license="CC-BY-SA-3.0"),  # free-text copyright: "most media files (... musics ...)" are CC-BY-SA 3.0
    PackageSpec(name="lordsawar-data", why="LordsAWar!: medieval orchestral", genres=("orchestral", "folk"),
                include=("*/lordsawar/music/*",), split="validation"),
    PackageSpec(name="fillets-ng-data", why="Fish Fillets: quirky acoustic, ambient, jazz-ish",
                genres=("ambient", "jazz-ish", "acoustic"), include=("*/fillets-ng/music/*",), split="validation",
                license="GPL-2"),  # free-text copyright: the BSD text first is the packaging's
    PackageSpec(name="glob2-data", why="Globulation 2: electronic, ambient", genres=("electronic", "ambient"),
                include=("*/glob2/data/zik/*",)),
    PackageSpec(name="supertuxkart-data", why="SuperTuxKart race music: rock, electronic, orchestral, world, jazz-ish",
                genres=("rock", "electronic", "orchestral", "world", "jazz-ish"),
                include=("*/supertuxkart/data/music/*",)),
    PackageSpec(name="powermanga-data", why="Powermanga handheld-console set: chip, electronic",
                genres=("chip", "electronic"), include=("*/powermanga/sound/handheld_console/*",)),
    PackageSpec(name="enigma-data", why="Enigma: electronic and ambient game music", genres=("electronic", "ambient"),
                include=("*/enigma/music/*",)),
    PackageSpec(name="pathological", why="Pathological: two long pieces, electronic and orchestral",
                genres=("electronic", "orchestral")),
    PackageSpec(name="funnyboat", why="Funny Boat: one comic, jazz-ish piece (the sounds beside it are < 30 s)",
                genres=("jazz-ish", "pop"), include=("*/funnyboat/data/*.ogg",), split="test"),
    PackageSpec(name="lugaru-data", why="Lugaru: orchestral and percussive themes",
                genres=("orchestral", "percussion"), include=("*/lugaru/Sounds/Music*",)),
    PackageSpec(name="tuxtype-data", why="Tux Typing: chiptune and calm pieces (sound effects are < 30 s)",
                genres=("chip", "ambient"), include=("*/tuxtype/sounds/*.ogg",)),
    PackageSpec(name="performous", why="Performous menu music: pop, electronic",
                genres=("pop", "electronic"), include=("*/performous/themes/*.ogg",)),
    PackageSpec(name="torus-trooper-data", why=_KENTA_CHO, genres=("electronic", "chip"), split="test"),
    PackageSpec(name="gunroar-data", why=_KENTA_CHO, genres=("electronic", "chip"), split="test"),
    PackageSpec(name="mu-cade-data", why=_KENTA_CHO, genres=("electronic", "chip"), split="test"),
    PackageSpec(name="titanion-data", why=_KENTA_CHO, genres=("electronic", "chip"), split="test"),
    PackageSpec(name="tumiki-fighters-data", why=_KENTA_CHO, genres=("electronic", "chip"),
                include=("*/sounds/*.ogg",), split="test"),
    PackageSpec(name="noiz2sa-data", why="noiz2sa (Kenta Cho, music by others): electronic, chip",
                genres=("electronic", "chip"), include=("*/sounds/*.ogg",), split="test"),
    PackageSpec(name="parsec47-data", why="Parsec47 (Kenta Cho): electronic", genres=("electronic", "chip"),
                include=("*/sounds/*.ogg",), split="test"),
    PackageSpec(name="rrootage-data", why="rRootage (Kenta Cho): electronic", genres=("electronic", "chip"),
                include=("*/sounds/*.ogg",), split="test"),
)
