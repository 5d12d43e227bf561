"""Evaluation, not the product: the data generator, the detection and speed benchmarks,
scoring, replay, the demo and the prototype's reference model.

May import: every room except `txmon.cli`.
"""
