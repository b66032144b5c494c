"""Where the conformance suite lives; the pytest plugin itself is the top-level module
:mod:`qbridge_pytest` (kept outside this package so that loading it does not import torch)."""

from qbridge_pytest import SUITE_DIR

__all__ = ["SUITE_DIR"]
