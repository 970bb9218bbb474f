"""Import a Lambda's modules the way Lambda does (shared with the offline runner)."""

from localrun.lambdas import load

__all__ = ["load"]
