"""``python -m scale_pl``: fit | validate | test (LightningCLI) and the plain commands.

Bad input is reported as one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from scale_pl.errors import ScaleError

COMMANDS = {
    "generate": ("scale_pl.commands.generate", "write a generated workload to a JSON file"),
    "schedule": ("scale_pl.commands.schedule", "schedule a workload file on a cluster file with a policy"),
    "table": ("scale_pl.commands.table", "heuristics' ART across cluster sizes, vs EFT and the lower bound"),
    "evaluate": ("scale_pl.commands.evaluate", "trained checkpoints and heuristics across N on test workloads"),
    "compare": ("scale_pl.commands.compare", "markdown table and plots from the runs of an MLflow experiment"),
    "serve": ("scale_pl.commands.serve", "serve placements online over HTTP (FastAPI; see docs/serve.md)"),
    "replay": ("scale_pl.commands.replay", "play a workload against a running service, acting as the cluster"),
}
LIGHTNING_COMMANDS = {
    "fit": "train a policy (LightningCLI; --config conf/....yaml)",
    "validate": "validate a policy (LightningCLI)",
    "test": "test a policy (LightningCLI)",
}
USAGE = "usage: python -m scale_pl {" + ",".join([*LIGHTNING_COMMANDS, *COMMANDS]) + "} [options]"


def _help() -> str:
    lines = [USAGE, "", "commands:"]
    for name, text in LIGHTNING_COMMANDS.items():
        lines.append(f"  {name:<10} {text}")
    for name, (_, text) in COMMANDS.items():
        lines.append(f"  {name:<10} {text}")
    lines.append("\n`python -m scale_pl COMMAND --help` for a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_help())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command in LIGHTNING_COMMANDS:
            from scale_pl.cli import run_lightning_cli

            return run_lightning_cli(argv)
        if command not in COMMANDS:
            print(f"error: unknown command {command!r}\n{USAGE}", file=sys.stderr)
            return 2
        module = importlib.import_module(COMMANDS[command][0])
        parser = argparse.ArgumentParser(prog=f"python -m scale_pl {command}", description=module.__doc__)
        module.add_arguments(parser)
        return module.run(parser.parse_args(rest))
    except ScaleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
