"""qbridge-example: a template backend plugin (a NumPy state-vector simulator named ``example``)."""

from .backend import ExampleBackend

__all__ = ["ExampleBackend"]
