"""The examples in the package's docstrings: those that run without a server run and hold; the
others (marked +SKIP) must at least parse."""

import doctest
import importlib
import pkgutil

import pytest

import mopps

OPTIONAL = ("mopps.ray",)  # needs Ray (tests_verl/test_ray.py imports it where Ray is installed)
MODULES = sorted(m.name for m in pkgutil.walk_packages(mopps.__path__, "mopps.")
                 if m.name not in OPTIONAL and not m.name.endswith(("_pb2", "__main__")))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"


def test_the_examples_that_run_are_found():
    counts = {name: doctest.testmod(importlib.import_module(name), report=False).attempted for name in
              ("mopps.errors", "mopps._codec", "mopps.sim")}
    assert all(counts.values()), counts
