"""Infrastructure of the ML pipelines: config, constructs (units) and stacks (deployables)."""
