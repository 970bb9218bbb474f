"""The offline runner refusing, as AWS would, a request that the deployed policies deny.

:class:`Enforcer` is a gate for ``OfflineAws.calls`` (``localrun.moto_adapter.requests``): each AWS
call a function makes is turned into its IAM requests (:mod:`tools.iam_check.operations`), resolved
against one environment's synthesized templates (:mod:`tools.iam_check.check`) and evaluated
(:mod:`tools.iam_check.evaluator`). A denied request raises botocore's ``ClientError``
``AccessDenied``, worded as AWS words it, before the call reaches moto. Calls of state machines
are not gated (their requests are derived from the ASL, not made by code here). One ``node``
process per call: slower, and meant for ``python -m localrun ... --iam cdk.out/<env>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from botocore.exceptions import ClientError

from localrun.moto_adapter.requests import Collected, RecordedCall, observing
from tools.iam_check import evaluator
from tools.iam_check.check import Concrete, Resolver, to_evaluator
from tools.iam_check.operations import Request, requests_of
from tools.iam_check.principals import Principals
from tools.iam_check.templates import Environment


class Enforcer:
    """A gate that evaluates each call of a function against ``folder``'s templates."""

    def __init__(self, folder: Path) -> None:
        self.principals = Principals(Environment(folder))
        self._resolver = Resolver(self.principals)
        self._seen = Collected()  # the functions' environments, for the requests' placeholders
        self.denied: list[str] = []

    @contextmanager
    def watching(self) -> Iterator[Enforcer]:
        """Learn the bound functions' environments while the block runs."""
        with observing(self._seen):
            yield self

    def __call__(self, call: RecordedCall) -> None:
        if not call.principal.startswith("function:"):
            return
        for request in sorted(requests_of([call], self._seen.environments)):
            self._check(request, call)

    def _check(self, request: Request, call: RecordedCall) -> None:
        role = self.principals.role(request.principal)
        for resource in self._resolver.values(request.resource):
            values = [self._resolver.values(value)[0] for _, value in request.context]
            context = tuple(zip((key for key, _ in request.context), values, strict=True))
            concrete = Concrete(request.principal, request.action, resource, context, "offline call")
            (decision,) = evaluator.evaluate([to_evaluator(self.principals, concrete, "call")])
            if not decision.allowed:
                message = (
                    f"User: {role.arn}/offline is not authorized to perform: {request.action} on resource: "
                    f"{resource} ({decision.explain})"
                )
                self.denied.append(message)
                raise ClientError({"Error": {"Code": "AccessDenied", "Message": message}}, call.operation)
