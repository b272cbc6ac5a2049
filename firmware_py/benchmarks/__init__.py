"""Benchmarks run by ``roadgate benchmark``: each measures ours and a peer in the same run.

Benchmarks report speed; tests assert correctness. A benchmark checks that both sides give
the same answers on a sample before it times them.
"""
