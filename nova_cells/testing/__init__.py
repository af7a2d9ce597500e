"""Stand-ins that the tests and the benchmarks share.

Only the standard library: ``make bench`` and a deployment that runs the
benchmarks have the package's requirements, not the test requirements.
"""

__all__: list[str] = []
