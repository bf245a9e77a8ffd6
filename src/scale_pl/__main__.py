"""``python -m scale_pl``: fit | validate | test (LightningCLI) and the plain commands.

Bad input is reported as one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from scale_pl.errors import ScaleError

COMMANDS = {
    "generate": "scale_pl.commands.generate",
    "schedule": "scale_pl.commands.schedule",
    "table": "scale_pl.commands.table",
}
LIGHTNING_COMMANDS = ("fit", "validate", "test")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in LIGHTNING_COMMANDS:
        from scale_pl.cli import run_lightning_cli

        return run_lightning_cli(argv)
    parser = argparse.ArgumentParser(prog="python -m scale_pl", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="{fit,validate,test," + ",".join(COMMANDS) + "}")
    modules = {}
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0]))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return modules[args.command].run(args)
    except ScaleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
