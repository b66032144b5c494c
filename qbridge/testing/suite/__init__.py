"""The conformance suite's test modules, one family per module, each a ``Test*`` class.

Every class derives from :class:`qbridge.testing.conformance.ConformanceBase` and asks for the
``harness`` fixture (the backend under test plus the run-and-compare helpers). Tests skip only on
declared capabilities (:class:`qbridge.Target` fields), with the field named in the reason.
"""
