"""``semeq export``: settings saved earlier -> a preset a real EQ plugin loads."""

from __future__ import annotations

import argparse

from ..errors import ParameterError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write saved settings as a preset for an EQ plugin",
                       description="Write the settings semeq applied (from 'semeq apply --json', the web page's "
                                   "settings download or a batch ledger line) as a preset for a real EQ plugin. "
                                   "'semeq export --list' lists the formats.")
    p.add_argument("settings", nargs="?", metavar="SETTINGS.json", help="saved settings (JSON, or JSON Lines with --entry)")
    p.add_argument("--list", action="store_true", help="list the formats and the hosts that load them")
    p.add_argument("--format", "-f", metavar="FORMAT", help="lsp, apo, easyeffects, audacity, audacity-xml")
    p.add_argument("-o", "--output", metavar="PATH", help="the preset file (an LV2 bundle: a folder ending in .preset.lv2)")
    p.add_argument("--entry", type=int, metavar="N", help="which file's settings (1-based) in a folder's output or a ledger")
    p.add_argument("--sample-rate", type=float, metavar="HZ", help="when the settings do not record it")
    p.add_argument("--output-gain-db", type=float, metavar="DB", help="when the settings do not record it")
    p.add_argument("--force", action="store_true", help="overwrite an existing preset")
    p.set_defaults(func=run)


def print_formats() -> None:
    from ..export import FORMATS

    width = max(len(name) for name in FORMATS)
    for fmt in FORMATS.values():
        print(f"{fmt.name:<{width}}  {fmt.title}")
        print(f"{'':<{width}}  file: NAME{fmt.suffix}{'/ (a folder)' if fmt.bundle else ''}; loads in: {fmt.hosts}")


def run(args: argparse.Namespace) -> int:
    from ..export import check_target, export, get_format, load_settings

    if args.list:
        if args.settings or args.format or args.output:
            raise ParameterError("--list takes no other arguments")
        print_formats()
        return 0
    if not args.settings:
        raise ParameterError("give the settings file to export (or --list for the formats)")
    if not args.format or not args.output:
        raise ParameterError("give --format FORMAT and -o PATH (see semeq export --list)")
    fmt = get_format(args.format.strip().lower())
    check_target(fmt, args.output, force=args.force, inputs=(args.settings,))
    settings = load_settings(args.settings, sample_rate=args.sample_rate, output_gain_db=args.output_gain_db,
                             entry=args.entry)
    path = export(fmt, settings, args.output, force=args.force)
    print(f"{path}: {fmt.name} preset of '{settings.label}' ({settings.sample_rate:g} Hz, "
          f"output gain {settings.output_gain_db:+.2f} dB) for {fmt.hosts}")
    return 0


# -- used by ``semeq apply --export FORMAT:PATH`` ---------------------------------------------
EXPORT_HELP = ("also write the applied setting as a preset for an EQ plugin: FORMAT is lsp, apo, easyeffects, "
               "audacity or audacity-xml (repeatable; see semeq export --list)")

STREAM_REFUSAL = ("--export is not offered on stream: the streaming EQ is redesigned every analysis window and "
                  "its make-up gain glides, so no single preset sounds like the stream; "
                  "'semeq apply FILE --export FORMAT:PATH' exports the one setting it applies to a file")


def check_export_targets(values: list[str] | None, *, force: bool, inputs: tuple = (), taken: tuple = ()) -> list:
    """Parse and check every ``--export FORMAT:PATH`` before any audio work: ``[(format, path), ...]``."""
    from pathlib import Path

    from ..export import check_target, parse_target

    targets = []
    seen = {Path(t).resolve() for t in taken if t}
    for value in values or []:
        fmt, path = parse_target(value)
        check_target(fmt, path, force=force, inputs=inputs)
        if path.resolve() in seen:
            raise ParameterError(f"--export {value}: {path} is already another output of this command")
        seen.add(path.resolve())
        targets.append((fmt, path))
    return targets


def write_exports(targets: list, facts: dict, *, force: bool) -> list[dict]:
    """Write each checked target from the facts ``semeq apply --json`` prints (the same reader as ``semeq export``)."""
    from ..export import export, read_settings

    written = []
    for fmt, path in targets:
        try:
            settings = read_settings(facts, where=str(facts.get("output", "the render")))
            export(fmt, settings, path, force=force)
        except ParameterError as exc:
            raise ParameterError(f"{facts.get('output')} was written, but the {fmt.name} preset was not: {exc}") from None
        written.append({"format": fmt.name, "path": str(path)})
    return written
