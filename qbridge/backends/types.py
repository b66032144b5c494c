"""The types of a run, kept importable from here: they live in :mod:`qbridge.runtime.types`."""

from ..runtime.types import *  # noqa: F401,F403
from ..runtime.types import __all__  # noqa: F401
