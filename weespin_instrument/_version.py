"""The package's version, in a module of its own so the HTTP clients can name it without
importing the package's ``__init__`` (which imports them, lazily)."""

__version__ = "0.1.0"
