"""User-facing errors: raised for bad input, reported by the CLI as one line with exit code 2."""


class ScaleError(ValueError):
    """Bad input or configuration, described in one line that names the offending item."""
