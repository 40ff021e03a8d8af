// Written by `make version` from the repository's VERSION file, the one place the version is set
// (the Python package reads the same file's copy in mopps/_version.py); a test checks all agree.
/// The moppsd release: Health replies, `moppsd --version`, the wheel's name.
public let moppsVersion = "0.2.0"
