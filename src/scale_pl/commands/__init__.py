"""Plain sub-commands of ``python -m scale_pl`` (the Lightning ones live in :mod:`scale_pl.cli`).

Each module has ``add_arguments(parser)`` and ``run(args) -> int``.
"""
