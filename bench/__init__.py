"""Benchmarks: run by hand (``python -m bench.<name>``) or by ``make bench``; they print numbers, never pass/fail."""
