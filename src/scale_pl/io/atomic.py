"""Writing output files atomically: nothing half-written, nothing created when a command fails."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from scale_pl.errors import ScaleError


def check_writable(path: str | Path, option: str) -> Path:
    """``path`` as a Path, or a one-line error now (before any work) if its folder does not exist."""
    path = Path(path)
    if path.is_dir():
        raise ScaleError(f"{option} {path}: is a directory")
    if not path.parent.is_dir():
        raise ScaleError(f"{option} {path}: folder {path.parent} does not exist")
    return path


@contextlib.contextmanager
def staged_outputs() -> Iterator[Callable[[Path, Callable[[Path], None]], None]]:
    """Stage several output files and publish them together, only if the block succeeds.

    Usage::

        with staged_outputs() as stage:
            stage(out, lambda tmp: tmp.write_text(text))
            stage(gantt, lambda tmp: figure.savefig(tmp, format="png"))

    Each writer fills a temporary file in the target's folder; when the block ends without an
    exception every temporary file is moved onto its target with :func:`os.replace` (atomic on
    one file system); on an exception they are all removed and no target is touched.
    """
    staged: list[tuple[Path, Path]] = []

    def stage(target: Path, writer: Callable[[Path], None]) -> None:
        target = Path(target)
        try:
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        except OSError as exc:
            raise ScaleError(f"{target}: cannot write ({exc.strerror})") from None
        os.close(fd)
        tmp = Path(tmp_name)
        staged.append((tmp, target))
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        try:
            writer(tmp)
        except OSError as exc:
            raise ScaleError(f"{target}: cannot write ({exc.strerror})") from None

    try:
        yield stage
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    try:
        for tmp, target in staged:
            os.replace(tmp, target)
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise ScaleError(f"{exc.filename}: cannot write ({exc.strerror})") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    with staged_outputs() as stage:
        stage(Path(path), lambda tmp: tmp.write_text(text))
