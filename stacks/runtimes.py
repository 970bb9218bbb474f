"""The runtime versions the deployables run on, in one place (plain Python, no CDK import).

The stacks deploy these versions; ``make lint`` checks each deployable's Python against them
(``tools/version_gate.py``); ``make`` installs the matching Java; the tests run the Glue script on
this Spark and fail when the installed pyspark or JVM is another version. A version change here
moves all of them, and the tests say what else must follow (the pins in ``requirements-dev.txt``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GlueRuntime:
    """One Glue version and the engine it runs: Spark (the ``pyspark`` pin), Python and Java."""

    version: str
    spark: str
    python: str
    java: str

    @property
    def cdk_name(self) -> str:
        """The ``aws_glue.GlueVersion`` member, e.g. ``V5_0``."""
        return "V" + self.version.replace(".", "_")


#: Glue 5.0: Spark 3.5.4 (Scala 2.12, ANSI mode off), Python 3.11, Java 17.
GLUE = GlueRuntime(version="5.0", spark="3.5.4", python="3.11", java="17")

#: The Python of every Lambda function (``aws_lambda.Runtime.PYTHON_3_14``), the newest runtime,
#: which cdk-nag's AwsSolutions-L1 asks for.
LAMBDA_PYTHON = "3.14"


def lambda_runtime_member(python: str = LAMBDA_PYTHON) -> str:
    """The ``aws_lambda.Runtime`` member of a Python version, e.g. ``PYTHON_3_14``."""
    return "PYTHON_" + python.replace(".", "_")
