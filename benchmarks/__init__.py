"""Benchmarks: the demo run now; the baseline suite and throughput benchmarks later."""
