"""Errors that carry a message meant for the person running txmon."""


class TxmonError(Exception):
    """A failure that the command line reports as one clear line, without a traceback."""


class DatabaseUnavailable(TxmonError):
    """The database cannot be reached or started."""


class LoadError(TxmonError):
    """An input file cannot be loaded at all (missing, unreadable, unknown shape)."""


class BuildError(TxmonError):
    """dbt failed; the message names the node and the reason."""
