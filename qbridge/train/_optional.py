"""Is an optional package importable? (without importing it)"""

from __future__ import annotations

import importlib.util


def have(name: str) -> bool:
    """True when ``name`` can be imported. A module blocked or half-installed (``sys.modules``
    entry of None, a parent that fails to import) counts as missing rather than raising."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
