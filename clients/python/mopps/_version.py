# Written by `make version` from the repository's VERSION file, the one place the version is set.
__version__ = "0.2.0"
