"""Code that runs outside the CDK app: the SageMaker Processing program and the Glue ETL script."""
