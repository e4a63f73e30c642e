"""Benchmarks: measurements run by hand (`make bench`), never collected by pytest."""
