"""The conformance suite against the example backend: the one line every plugin should have.

Run just this with ``pytest plugins/qbridge-example/tests/test_example_conformance.py``, or the
same suite from the command line with ``qbridge-backend-test --backend example``.
"""

from qbridge.testing import conformance_tests

TestExampleConformance = conformance_tests("example")
