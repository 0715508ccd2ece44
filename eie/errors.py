"""Error types that the `eie` command turns into a clear message and a nonzero exit."""


class EIEError(Exception):
    """Base of every user-facing error: bad input, bad config, a model that doesn't fit."""
