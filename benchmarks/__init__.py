"""Benchmarks of the functions against local stand-ins: ``python -m benchmarks.run [--quick]``.

Kept empty on purpose: ``python -m benchmarks.cold`` imports this package first, and anything
imported here would be counted in the cold start it measures.
"""
