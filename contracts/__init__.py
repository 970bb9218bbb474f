"""What the stacks, the offline runner and the tests share, without the CDK.

ASL substitutions (:mod:`contracts.substitutions`), each Lambda's environment
(:mod:`contracts.environments`), the EventBridge patterns (:mod:`contracts.events`), the
processing container's paths (:mod:`contracts.container`), resource names
(:mod:`contracts.names`), the Glue job's arguments, the database's TLS settings and the DeepAR
image. Nothing here imports ``aws_cdk`` or ``jsii``: the runner imports these modules and
starts no JavaScript (tests/unit/test_contracts.py).
"""
