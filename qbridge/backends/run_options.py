"""The run options, kept importable from here: they live in :mod:`qbridge.runtime.options`."""

from ..runtime.options import *  # noqa: F401,F403
from ..runtime.options import __all__  # noqa: F401
