"""Presets that real EQ plugins load, holding the setting semeq applied.

semeq applies one 5-band setting (RBJ cookbook biquads: a low shelf and a high shelf with Q
0.71, three peaks) and an output gain. Each format here writes that setting for a plugin whose
filters are the same biquads, so the plugin sounds like ``semeq apply``'s render; where a
plugin's ranges cannot hold a value, the export is refused (:class:`~semeq.errors.ParameterError`
naming the band and the limit) rather than written to sound different.

=================  ===========================================================================
``lsp``            LV2 preset bundle ``NAME.preset.lv2/`` for LSP Parametric Equalizer x16 Stereo
``apo``            Equalizer APO / REW filter text (``Preamp:``, ``Filter N: ON PK ...``)
``easyeffects``    EasyEffects output preset (JSON), its equalizer set to the five bands
``audacity``       Audacity Filter Curve EQ preset (``FilterCurve:f0=... v0=...``), the net curve
``audacity-xml``   Audacity EQCurves XML (``<equalizationeffect>``), the net curve
=================  ===========================================================================

Use :func:`export` to write a file (or bundle) atomically, :func:`export_bytes` for a download
(an LV2 bundle comes as a zip), :func:`read_settings` / :func:`load_settings` to read settings
saved earlier. docs/presets.md says where each format is defined and how it was checked.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import AudioFileError, ParameterError
from ..io import atomic_output, check_output_path, os_error_reason
from . import apo, audacity, easyeffects, lsp
from .settings import AppliedSettings, ExportBand, load_settings, read_settings

__all__ = ["ExportFormat", "FORMATS", "get_format", "parse_target", "check_target", "export", "export_bytes",
           "render_files", "AppliedSettings", "ExportBand", "read_settings", "load_settings"]


@dataclass(frozen=True, kw_only=True)
class ExportFormat:
    """One preset format: how to name it, where it goes, and the function that writes its files."""

    name: str
    title: str
    suffix: str
    """The file (or, for a bundle, folder) name ending, e.g. ``.txt`` or ``.preset.lv2``."""
    bundle: bool
    """True when the output is a folder of files (an LV2 bundle)."""
    hosts: str
    render: Callable[[AppliedSettings, str], dict[str, bytes]]
    """``(settings, stem) -> {file name: bytes}``; one file unless ``bundle``."""


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat(name="lsp", title="LV2 preset for LSP Parametric Equalizer x16 Stereo ('APO (DR)' filters)",
                 suffix=".preset.lv2", bundle=True, render=lsp.render,
                 hosts="Ardour, Carla, jalv, Qtractor, any LV2 host (bundle on LV2_PATH or in ~/.lv2)"),
    ExportFormat(name="apo", title="Equalizer APO / REW filter text (Preamp + PK/LSC/HSC filters)",
                 suffix=".txt", bundle=False, render=apo.render,
                 hosts="Equalizer APO, Peace, EasyEffects (Import APO preset), LSP Parametric Equalizer (import)"),
    ExportFormat(name="easyeffects", title="EasyEffects output preset (equalizer, 5 bands in 'APO (DR)' mode)",
                 suffix=".json", bundle=False, render=easyeffects.render,
                 hosts="EasyEffects 7.0 and later (Presets -> Import)"),
    ExportFormat(name="audacity", title="Audacity Filter Curve EQ preset (the net curve, up to 200 points)",
                 suffix=".txt", bundle=False, render=audacity.render_preset,
                 hosts="Audacity 2.4 and later, 3.x (Filter Curve EQ -> Presets & settings -> Import...)"),
    ExportFormat(name="audacity-xml", title="Audacity EQCurves XML (the net curve)",
                 suffix=".xml", bundle=False, render=audacity.render_xml,
                 hosts="Audacity up to 2.3 (Equalization -> Save/Manage Curves -> Import)"),
)}
"""The registry of formats, by name."""


def get_format(name: str) -> ExportFormat:
    """The format called ``name``; ParameterError listing the known ones otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ParameterError(f"unknown export format {name!r}; known: {', '.join(FORMATS)}") from None


def _stem(path: Path, fmt: ExportFormat) -> str:
    """A safe base name for the files inside (the LV2 preset's .ttl): the path's name without its suffix."""
    name = path.name
    for suffix in (fmt.suffix, ".lv2"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    else:
        name = path.stem
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "semeq"
    return name


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:60] or "semeq"


def parse_target(text: str) -> tuple[ExportFormat, Path]:
    """``FORMAT:PATH`` (the value of ``--export``) -> (format, path)."""
    name, sep, path = str(text).partition(":")
    if not sep or not path:
        raise ParameterError(f"--export {text!r}: expected FORMAT:PATH, e.g. lsp:warm.preset.lv2 "
                             f"(formats: {', '.join(FORMATS)})")
    return get_format(name.strip().lower()), Path(path)


def check_target(fmt: ExportFormat, path: str | os.PathLike, *, force: bool = False, inputs: tuple = ()) -> Path:
    """Refuse an output the format cannot be written to, before any work (as :func:`semeq.io.check_output_path`).

    A bundle's path must end in ``.lv2`` and may replace only an existing LV2 bundle (a folder
    with a ``manifest.ttl``), with ``force``.
    """
    path = Path(path)
    if not fmt.bundle:
        return check_output_path(path, force=force, inputs=inputs)
    if not path.name.lower().endswith(".lv2"):
        raise ParameterError(f"{path}: an LV2 preset bundle is a folder whose name ends in .lv2 "
                             f"(e.g. {_slug(path.name)}{fmt.suffix})")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise AudioFileError(f"{path}: the output folder {parent} does not exist")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISDIR(st.st_mode) or not (path / "manifest.ttl").is_file():
            raise AudioFileError(f"{path}: exists and is not an LV2 bundle (a folder with manifest.ttl); "
                                 "semeq replaces only a bundle, even with --force")
        if not force:
            raise AudioFileError(f"{path}: already exists (an LV2 bundle; use --force to replace it)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise AudioFileError(f"{path}: the folder {parent} is not writable")
    return path


def render_files(fmt: ExportFormat | str, settings: AppliedSettings, stem: str | None = None) -> dict[str, bytes]:
    """The format's files for these settings, ``{file name: bytes}``, without writing anything."""
    fmt = get_format(fmt) if isinstance(fmt, str) else fmt
    return fmt.render(settings, _slug(stem) if stem else _slug(f"semeq_{settings.label}"))


def export(fmt: ExportFormat | str, settings: AppliedSettings, path: str | os.PathLike, *,
           force: bool = False) -> Path:
    """Write ``settings`` in format ``fmt`` to ``path`` atomically (a bundle: a folder, swapped in whole).

    Everything is checked and rendered before anything is written: a refused setting leaves no file.

    Raises
    ------
    ParameterError
        A setting the format's plugin cannot hold (naming the band and the limit), a bad path name.
    AudioFileError
        An output that exists (without ``force``) or cannot be written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from semeq.params import EQParams
    >>> s = AppliedSettings(params=EQParams(peak2_gain_db=3.0), output_gain_db=-1.0, sample_rate=48000)
    >>> out = export("apo", s, pathlib.Path(tempfile.mkdtemp()) / "warm.txt")
    >>> out.read_text().splitlines()[1]
    'Preamp: -1.000 dB'
    """
    fmt = get_format(fmt) if isinstance(fmt, str) else fmt
    path = check_target(fmt, path, force=force)
    files = fmt.render(settings, _stem(path, fmt))
    if not fmt.bundle:
        (data,) = files.values()
        with atomic_output(path) as tmp:
            Path(tmp).write_bytes(data)
        return path
    _write_bundle(path, files)
    return path


def _write_bundle(path: Path, files: dict[str, bytes]) -> None:
    """Write the bundle in a hidden folder beside ``path``, then swap it in (an old bundle is removed after)."""
    parent = path.parent if str(path.parent) else Path(".")
    tmp = old = None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        for name, data in files.items():
            (tmp / name).write_bytes(data)
            os.chmod(tmp / name, 0o666 & ~umask)
        if os.path.lexists(path):
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=parent))
            os.rmdir(old)
            os.replace(path, old)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        if old is not None and not os.path.lexists(path):
            os.replace(old, path)  # put the old bundle back
            old = None
        raise AudioFileError(f"{path}: could not write ({os_error_reason(exc)})") from None
    finally:
        for leftover in (tmp, old):
            if leftover is not None and os.path.lexists(leftover):
                shutil.rmtree(leftover, ignore_errors=True)


def export_bytes(fmt: ExportFormat | str, settings: AppliedSettings, name: str | None = None) -> tuple[str, bytes]:
    """A download: ``(file name, bytes)``; an LV2 bundle comes as ``NAME.preset.lv2.zip`` holding its folder.

    ``name`` (default: from the settings' label) names the file; the web app can serve the bytes
    with ``Content-Disposition: attachment; filename=...``.
    """
    fmt = get_format(fmt) if isinstance(fmt, str) else fmt
    stem = _slug(name) if name else _slug(f"semeq_{settings.label}")
    files = fmt.render(settings, stem)
    if not fmt.bundle:
        ((filename, data),) = files.items()
        return filename, data
    folder = f"{stem}{fmt.suffix}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for filename, data in files.items():
            info = zipfile.ZipInfo(f"{folder}/{filename}", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return f"{folder}.zip", buffer.getvalue()
