"""Offline runner: the project's state machines, Lambdas and processing code on a laptop."""
