"""The backend conformance suite (filled by the adapters issue)."""
