"""Benchmark harnesses run by `archsampler bench <name>`."""
