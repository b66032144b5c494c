"""pytest plugin entry point of the conformance suite (options registered here)."""
