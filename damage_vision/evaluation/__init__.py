"""Evaluation: metrics of paper 1 and the harness behind `evaluate` and `compare`."""
