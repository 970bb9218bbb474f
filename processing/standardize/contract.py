"""Where the program lives in its container and where SageMaker mounts its data.

Plain string constants: the stack reads them from this file's source (stacks/standardize_pipeline.py),
without importing the program, to write them into the processing job's request.
"""

from __future__ import annotations

#: The package directory; ``python3 <it>`` runs its ``__main__.py``.
PROGRAM_PATH = "/opt/program/standardize"
CONTAINER_INPUT_DIR = "/opt/ml/processing/input"
CONTAINER_OUTPUT_DIR = "/opt/ml/processing/output"
FAILURE_MESSAGE_PATH = "/opt/ml/output/message"
STATS_DIR = "stats"
