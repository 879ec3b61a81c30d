"""Benchmarks, each run as ``python -m benchmarks.NAME`` from the repository root;
``benchmarks.harness`` holds what they share."""
