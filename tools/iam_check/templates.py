"""One environment's synthesized templates, with every intrinsic function resolved.

CloudFormation names most resources at deploy time; here each gets a deterministic physical name
(``<stack>-<logical id>``, or the name its properties give), so that every ``Ref`` and
``Fn::GetAtt`` of a resource renders to the same ARN wherever it is used: in a role's policy, in a
bucket's policy, in a function's environment. The account, region and partition come from the
stack's environment in ``manifest.json``. Supported: ``Ref`` (resources and pseudo parameters),
``Fn::GetAtt``, ``Fn::Join``, ``Fn::Sub``, ``Fn::Select``, ``Fn::Split``, ``Fn::GetAZs``,
``Fn::ImportValue``, ``Fn::GetStackOutput`` and ``Fn::If`` with ``Fn::Equals``/``Not``/``And``/
``Or`` conditions. Anything else is an error that names it: a value rendered wrong would make the
permission check meaningless.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: ``AWS::NoValue``: a property or list item that is left out.
_NO_VALUE = object()


class TemplateError(ValueError):
    """A template that cannot be rendered; the message names the stack and the value."""


@dataclass(frozen=True)
class Resource:
    """A rendered resource: its stack's short name (``Shared``), logical id, type, construct path
    without the stack (``Data/Bucket``), its properties with every intrinsic resolved, and its
    stack's full name (``MlPipelines-dev-Shared``)."""

    stack: str
    logical_id: str
    type: str
    path: str
    properties: Mapping[str, Any]
    stack_name: str


# How ``Ref`` and ``Fn::GetAtt ... Arn`` render, by type: (Ref, Arn), from the physical name ``n``.
def _arn(p: str, service: str, region: str, account: str, resource: str) -> str:
    return f"arn:{p}:{service}:{region}:{account}:{resource}"


class Environment:
    """The rendered templates of one folder (``cdk.out/<env>``): one account, region, partition."""

    def __init__(self, folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        stacks = {
            name: artifact
            for name, artifact in manifest["artifacts"].items()
            if artifact["type"] == "aws:cloudformation:stack"
        }
        if not stacks:
            raise TemplateError(f"{folder}: manifest.json lists no stack")
        environments = {artifact["environment"] for artifact in stacks.values()}
        if len(environments) != 1:
            raise TemplateError(f"{folder}: the stacks span {sorted(environments)}; give one environment")
        (environment,) = environments
        account, region = environment.removeprefix("aws://").split("/")
        if not account.isdigit() or region == "unknown-region":
            raise TemplateError(f"{folder}: {environment} is not a concrete account and region")
        self.account, self.region = account, region
        self.partition = "aws-cn" if region.startswith("cn-") else "aws"
        self.url_suffix = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        self._templates: dict[str, dict[str, Any]] = {}
        for name, artifact in stacks.items():
            template_file = artifact["properties"]["templateFile"]
            self._templates[name] = json.loads((folder / template_file).read_text())
        self.stack_names = sorted(self._templates)
        self._outputs: dict[tuple[str, str], Any] = {}
        self._exports: dict[str, tuple[str, Any]] = {}
        for name, template in self._templates.items():
            for output_name, output in template.get("Outputs", {}).items():
                self._outputs[name, output_name] = output["Value"]
                export = output.get("Export", {}).get("Name")
                if export is not None:
                    self._exports[self._render(name, export, "Outputs")] = (name, output["Value"])
        self.resources: dict[tuple[str, str], Resource] = {}
        for name, template in self._templates.items():
            for logical_id, raw in template.get("Resources", {}).items():
                path = raw.get("Metadata", {}).get("aws:cdk:path")
                if path is None:
                    raise TemplateError(
                        f"{name}/{logical_id} has no aws:cdk:path metadata: synthesize with path metadata on"
                    )
                props = self._render(name, raw.get("Properties", {}), logical_id)
                short_path = path.split("/", 1)[1].removesuffix("/Resource")
                self.resources[name, logical_id] = Resource(
                    self.unit(name), logical_id, raw["Type"], short_path, props, name
                )

    # -- lookups ---------------------------------------------------------------------------------

    @staticmethod
    def unit(stack_name: str) -> str:
        """``MlPipelines-dev-Forecast`` -> ``Forecast``."""
        return stack_name.rsplit("-", 1)[-1]

    def of_type(self, resource_type: str) -> Iterator[Resource]:
        return (r for r in self.resources.values() if r.type == resource_type)

    def find(self, unit: str, path: str) -> Resource | None:
        """The resource at construct path ``path`` of the stack ``unit``, if there is one."""
        found = [r for r in self.resources.values() if r.stack == unit and r.path == path]
        if len(found) > 1:
            raise TemplateError(f"expected one resource at {unit}/{path}, found {len(found)}")
        return found[0] if found else None

    def by_path(self, unit: str, path: str) -> Resource:
        found = self.find(unit, path)
        if found is None:
            raise TemplateError(f"expected one resource at {unit}/{path}, found none")
        return found

    def ref(self, res: Resource) -> str:
        """What ``Ref`` of ``res`` renders to."""
        return str(self._ref(res.stack_name, res.logical_id))

    def arn(self, res: Resource) -> str:
        """What ``Fn::GetAtt [res, Arn]`` renders to."""
        return str(self._get_att(res.stack_name, res.logical_id, "Arn"))

    # -- physical names --------------------------------------------------------------------------

    def _raw(self, stack: str, logical_id: str) -> dict[str, Any]:
        try:
            return dict(self._templates[stack]["Resources"][logical_id])
        except KeyError:
            raise TemplateError(f"{stack}: no resource {logical_id}") from None

    def _name(self, stack: str, logical_id: str, name_property: str | None) -> str:
        raw = self._raw(stack, logical_id)
        if name_property and name_property in raw.get("Properties", {}):
            return str(self._render(stack, raw["Properties"][name_property], logical_id))
        return f"{stack}-{logical_id}"[:64]

    def _ref(self, stack: str, logical_id: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::StackName": stack,
            "AWS::StackId": _arn(
                self.partition, "cloudformation", self.region, self.account, f"stack/{stack}/0"
            ),
            "AWS::NoValue": _NO_VALUE,
        }
        if logical_id in pseudo:
            return pseudo[logical_id]
        kind = self._raw(stack, logical_id)["Type"]
        p, r, a = self.partition, self.region, self.account
        if kind == "AWS::S3::Bucket":
            return self._name(stack, logical_id, "BucketName").lower()
        if kind == "AWS::SNS::Topic":
            return _arn(p, "sns", r, a, self._name(stack, logical_id, "TopicName"))
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{r}.{self.url_suffix}/{a}/{self._name(stack, logical_id, 'QueueName')}"
        if kind == "AWS::StepFunctions::StateMachine":
            return _arn(
                p, "states", r, a, f"stateMachine:{self._name(stack, logical_id, 'StateMachineName')}"
            )
        if kind == "AWS::SecretsManager::Secret":
            return _arn(p, "secretsmanager", r, a, f"secret:{self._name(stack, logical_id, 'Name')}-AbCdEf")
        if kind == "AWS::KMS::Key":
            return f"key-{stack}-{logical_id}"
        name_properties = {
            "AWS::IAM::Role": "RoleName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::Events::Rule": "Name",
            "AWS::CloudWatch::Alarm": "AlarmName",
            "AWS::Glue::Job": "Name",
            "AWS::Glue::Crawler": "Name",
            "AWS::Glue::Connection": None,
            "AWS::Glue::Database": None,
            "AWS::Glue::SecurityConfiguration": "Name",
            "AWS::Glue::Workflow": "Name",
        }
        if kind in name_properties:
            prop = name_properties[kind]
            if kind == "AWS::Glue::Connection":
                raw = self._raw(stack, logical_id)["Properties"]["ConnectionInput"]
                return self._render(stack, raw.get("Name", f"{stack}-{logical_id}"), logical_id)
            if kind == "AWS::Glue::Database":
                raw = self._raw(stack, logical_id)["Properties"]["DatabaseInput"]
                return self._render(stack, raw.get("Name", f"{stack}-{logical_id}"), logical_id)
            return self._name(stack, logical_id, prop)
        if kind.startswith("AWS::EC2::"):
            return f"{kind.rsplit('::', 1)[-1].lower()}-{logical_id.lower()}"
        return f"{stack}-{logical_id}"

    def _get_att(self, stack: str, logical_id: str, attribute: str) -> Any:
        kind = self._raw(stack, logical_id)["Type"]
        ref = self._ref(stack, logical_id)
        p, r, a = self.partition, self.region, self.account
        if attribute == "Arn":
            arns = {
                "AWS::IAM::Role": lambda: f"arn:{p}:iam::{a}:role/{ref}",
                "AWS::S3::Bucket": lambda: f"arn:{p}:s3:::{ref}",
                "AWS::SQS::Queue": lambda: _arn(p, "sqs", r, a, str(ref).rsplit("/", 1)[-1]),
                "AWS::KMS::Key": lambda: _arn(p, "kms", r, a, f"key/{ref}"),
                "AWS::Lambda::Function": lambda: _arn(p, "lambda", r, a, f"function:{ref}"),
                "AWS::Logs::LogGroup": lambda: _arn(p, "logs", r, a, f"log-group:{ref}:*"),
                "AWS::Events::Rule": lambda: _arn(p, "events", r, a, f"rule/{ref}"),
                "AWS::CloudWatch::Alarm": lambda: _arn(p, "cloudwatch", r, a, f"alarm:{ref}"),
                "AWS::StepFunctions::StateMachine": lambda: ref,
                "AWS::SNS::Topic": lambda: ref,
                "AWS::SecretsManager::Secret": lambda: ref,
            }
            if kind in arns:
                return arns[kind]()
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return str(ref).rsplit("/", 1)[-1]
        if kind == "AWS::SNS::Topic" and attribute == "TopicName":
            return str(ref).rsplit(":", 1)[-1]
        if kind == "AWS::StepFunctions::StateMachine" and attribute == "Name":
            return str(ref).rsplit(":", 1)[-1]
        if kind == "AWS::KMS::Key" and attribute == "KeyId":
            return ref
        if kind == "AWS::EC2::SecurityGroup" and attribute == "GroupId":
            return ref
        if kind == "AWS::EC2::VPC" and attribute in ("CidrBlock", "DefaultSecurityGroup"):
            return "10.0.0.0/16" if attribute == "CidrBlock" else f"sg-default-{logical_id.lower()}"
        # Anything else (custom resources' attributes, ids): a deterministic stand-in, never in an ARN
        # that a policy matches against.
        return f"{stack}-{logical_id}.{attribute}"

    # -- intrinsics ------------------------------------------------------------------------------

    def _render(self, stack: str, value: Any, where: str) -> Any:
        if isinstance(value, list):
            items = [self._render(stack, item, where) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(stack, key, arg, where)
        rendered = {key: self._render(stack, item, where) for key, item in value.items()}
        return {key: item for key, item in rendered.items() if item is not _NO_VALUE}

    def _intrinsic(self, stack: str, key: str, arg: Any, where: str) -> Any:
        if key == "Ref":
            return self._ref(stack, arg)
        if key == "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self._get_att(stack, logical_id, attribute)
        if key == "Fn::Sub":
            return self._sub(stack, arg, where)
        if key == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        if key == "Fn::If":
            condition, if_true, if_false = arg
            return self._render(stack, if_true if self._condition(stack, condition) else if_false, where)
        rendered = self._render(stack, arg, where)
        if key == "Fn::Join":
            separator, parts = rendered
            return separator.join(str(part) for part in parts)
        if key == "Fn::Select":
            index, items = rendered
            return items[int(index)]
        if key == "Fn::Split":
            separator, text = rendered
            return str(text).split(separator)
        return self._cross_stack(stack, key, rendered, where)

    def _cross_stack(self, stack: str, key: str, rendered: Any, where: str) -> Any:
        """``Fn::ImportValue`` and ``Fn::GetStackOutput``: another stack's output, rendered there."""
        if key == "Fn::ImportValue":
            if rendered not in self._exports:
                raise TemplateError(f"{stack}/{where}: Fn::ImportValue {rendered!r} is exported by no stack")
            exporter, exported = self._exports[rendered]
            return self._render(exporter, exported, "Outputs")
        if key == "Fn::GetStackOutput":
            other, output = rendered["StackName"], rendered["OutputName"]
            if (other, output) not in self._outputs:
                raise TemplateError(f"{stack}/{where}: Fn::GetStackOutput {other}.{output} not found")
            return self._render(other, self._outputs[other, output], "Outputs")
        raise TemplateError(f"{stack}/{where}: unsupported intrinsic {key}")

    def _sub(self, stack: str, arg: Any, where: str) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self._render(stack, arg[1], where))
        out, i = [], 0
        while i < len(text):
            start = text.find("${", i)
            if start < 0:
                out.append(text[i:])
                break
            out.append(text[i:start])
            end = text.index("}", start)
            name = text[start + 2 : end]
            if name.startswith("!"):
                out.append("${" + name[1:] + "}")
            elif name in variables:
                out.append(str(variables[name]))
            elif "." in name:
                logical_id, attribute = name.split(".", 1)
                out.append(str(self._get_att(stack, logical_id, attribute)))
            else:
                out.append(str(self._ref(stack, name)))
            i = end + 1
        return "".join(out)

    def _condition(self, stack: str, name: str) -> bool:
        conditions = self._templates[stack].get("Conditions", {})
        if name not in conditions:
            raise TemplateError(f"{stack}: no condition {name}")
        return self._evaluate(stack, conditions[name])

    def _evaluate(self, stack: str, expression: Any) -> bool:
        ((key, arg),) = expression.items()
        if key == "Fn::Equals":
            left, right = self._render(stack, arg, "Conditions")
            return bool(left == right)
        if key == "Fn::Not":
            return not self._evaluate(stack, arg[0])
        if key == "Fn::And":
            return all(self._evaluate(stack, item) for item in arg)
        if key == "Fn::Or":
            return any(self._evaluate(stack, item) for item in arg)
        if key == "Condition":
            return self._condition(stack, arg)
        raise TemplateError(f"{stack}: unsupported condition {key}")
