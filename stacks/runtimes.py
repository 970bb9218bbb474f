"""The runtime versions the deployables run on, in one place (plain Python, no CDK import).

The stacks deploy these versions; ``make lint`` checks each deployable's Python against them
(``tools/version_gate.py``); ``make`` installs the matching Java; the tests run the Glue script on
this Spark and fail when the installed pyspark or JVM is another version. A version change here
moves all of them, and the tests say what else must follow (the pins in ``requirements-dev.txt``).

Glue: 5.1 (Spark 3.5.6, Python 3.11, Java 17) is AWS's default Glue version and the one the
tests run. Where AWS does not list 5.1, the job falls back to 5.0 (:data:`GLUE_FALLBACK`), which
has the same Python and Java and Spark 3.5.4, one patch release older (:func:`glue_runtime`).
What the AWS documentation said when this was written:

* GovCloud (``us-gov-west-1``, ``us-gov-east-1``): the "AWS Glue in AWS GovCloud (US)" page
  (https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/govcloud-glue.html) lists version
  support for Glue 3.0, 4.0 and 5.0 only. It does not say outright that 5.1 is missing there, but
  5.0 is the newest version it lists, so both regions stay on 5.0 until that page lists 5.1.
* China (``cn-north-1``, ``cn-northwest-1``): the China partition's own Glue developer guide lists
  5.1 with 5.0 (https://docs.amazonaws.cn/en_us/glue/latest/dg/release-notes.html,
  https://docs.amazonaws.cn/en_us/glue/latest/dg/migrating-version-51.html), and "Getting Started
  with Amazon Web Services in China" names no Glue version among Glue's differences there
  (https://docs.amazonaws.cn/en_us/aws/latest/userguide/glue.html). No page found says region by
  region that 5.1 runs in Beijing and Ningxia, and none says it does not: China gets 5.1.
* Other regions: the Glue version pages (https://docs.aws.amazon.com/glue/latest/dg/release-notes.html,
  .../migrating-version-51.html) list no region without 5.1.

The breaking change the 5.1 migration guide lists: S3A replaced EMRFS as the ``s3://`` connector.
The local tests write to local files, so they do not cover it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class GlueRuntime:
    """One Glue version and the engine it runs: Spark (the ``pyspark`` pin), Python and Java."""

    version: str
    spark: str
    python: str
    java: str

    @property
    def cdk_name(self) -> str:
        """The ``aws_glue.GlueVersion`` member, e.g. ``V5_1``."""
        return "V" + self.version.replace(".", "_")


#: Glue 5.1: Spark 3.5.6 (Scala 2.12, ANSI mode off), Python 3.11, Java 17. AWS's default Glue
#: version, deployed wherever AWS lists it, and the engine the tests run.
GLUE = GlueRuntime(version="5.1", spark="3.5.6", python="3.11", java="17")

#: Glue 5.0: Spark 3.5.4, Python 3.11, Java 17; for the regions in :data:`GLUE_BY_REGION`.
GLUE_FALLBACK = GlueRuntime(version="5.0", spark="3.5.4", python="3.11", java="17")

#: Regions AWS does not list with Glue 5.1, and the version they get instead (sources above).
GLUE_BY_REGION: Mapping[str, GlueRuntime] = MappingProxyType(
    {"us-gov-east-1": GLUE_FALLBACK, "us-gov-west-1": GLUE_FALLBACK}
)


def glue_runtime(region: str) -> GlueRuntime:
    """The Glue version the ETL job runs on in ``region``: :data:`GLUE` unless AWS lacks it there."""
    return GLUE_BY_REGION.get(region, GLUE)


#: The Python of every Lambda function (``aws_lambda.Runtime.PYTHON_3_14``), the newest runtime,
#: which cdk-nag's AwsSolutions-L1 asks for.
LAMBDA_PYTHON = "3.14"


def lambda_runtime_member(python: str = LAMBDA_PYTHON) -> str:
    """The ``aws_lambda.Runtime`` member of a Python version, e.g. ``PYTHON_3_14``."""
    return "PYTHON_" + python.replace(".", "_")
