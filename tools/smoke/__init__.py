"""``python -m tools.smoke -c env=NAME``: does a deployed environment work?

With the caller's credentials, against the stacks ``cdk deploy`` made, it checks in order and stops
at the first failure with a message that names what failed: the stacks and their outputs
(:mod:`tools.smoke.deployment`), a good and a bad partition through standardize, an alarm's
message through the alerts topic (:mod:`tools.smoke.steps`), optionally the forecast
(:mod:`tools.smoke.forecast_step`); then it removes what it made (:mod:`tools.smoke.run`).

Every AWS call goes through the boto3 clients it is handed, so ``make test`` runs the same code
against the offline runner's session (``--offline``, :mod:`localrun.deployed`). See docs/verify.md.
"""
