"""``python -m qbridge``: the ``qbridge`` command (for environments without its script on PATH)."""

from .cli import main

if __name__ == "__main__":
    main()
