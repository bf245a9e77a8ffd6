"""``scale_pl.models`` and ``scale_pl.losses`` import with torch and PyG only."""

from __future__ import annotations

import subprocess
import sys


def test_models_import_without_config_or_tracking_libraries() -> None:
    code = (
        "import sys, scale_pl.models, scale_pl.losses; "
        "print(sorted(m for m in ('mlflow', 'jsonargparse', 'omegaconf', 'lightning') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
