"""Who holds which policies in one rendered environment: roles with their identity and trust
policies, and the resource policies of buckets, topics, queues, keys, functions and secrets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.iam_check.templates import Environment, Resource, TemplateError

Policy = Mapping[str, Any]


@dataclass
class Role:
    """A role: where it is (``Forecast:Forecast/StartRole``), its ARN, trust and identity policies
    (with the ``unit/logical id`` of each policy statement's holder, for mutation and reports)."""

    key: str
    arn: str
    description: str
    trust: Policy
    policies: list[tuple[str, Policy]] = field(default_factory=list)


class Principals:
    """The roles and resource policies of an :class:`Environment`."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.roles: dict[str, Role] = {}
        by_ref: dict[str, Role] = {}
        for res in env.of_type("AWS::IAM::Role"):
            props = res.properties
            role = Role(
                f"{res.stack}:{res.path}",
                env.arn(res),
                str(props.get("Description", "")),
                props["AssumeRolePolicyDocument"],
            )
            for inline in props.get("Policies", []):
                role.policies.append(
                    (f"{res.stack}/{res.logical_id}/{inline['PolicyName']}", inline["PolicyDocument"])
                )
            for managed in props.get("ManagedPolicyArns", []):
                role.policies.append((f"managed:{managed}", _managed(managed)))
            self.roles[role.key] = role
            by_ref[env.ref(res)] = role
        for res in env.of_type("AWS::IAM::Policy"):
            for name in res.properties.get("Roles", []):
                if name in by_ref:
                    by_ref[name].policies.append(
                        (f"{res.stack}/{res.logical_id}", res.properties["PolicyDocument"])
                    )
        self.resource_policies: dict[str, list[tuple[str, Policy]]] = {}
        self._collect_resource_policies()
        self.s3_endpoints: list[tuple[str, Policy]] = [
            (f"{r.stack}/{r.logical_id}", r.properties["PolicyDocument"])
            for r in env.of_type("AWS::EC2::VPCEndpoint")
            if str(r.properties.get("ServiceName", "")).endswith(".s3")
            and r.properties.get("VpcEndpointType", "Gateway") == "Gateway"
            and "PolicyDocument" in r.properties
        ]
        self.in_vpc = self._roles_in_the_vpc()
        self.by_arn = {role.arn: role for role in self.roles.values()}

    def _add(self, arn: str, holder: str, policy: Policy) -> None:
        self.resource_policies.setdefault(arn, []).append((holder, policy))

    def _collect_resource_policies(self) -> None:
        env, p, r, a = self.env, self.env.partition, self.env.region, self.env.account
        for res in env.of_type("AWS::S3::BucketPolicy"):
            self._add(
                f"arn:{p}:s3:::{res.properties['Bucket']}",
                f"{res.stack}/{res.logical_id}",
                res.properties["PolicyDocument"],
            )
        for res in env.of_type("AWS::SNS::TopicPolicy"):
            for topic in res.properties["Topics"]:
                self._add(topic, f"{res.stack}/{res.logical_id}", res.properties["PolicyDocument"])
        for res in env.of_type("AWS::SQS::QueuePolicy"):
            for url in res.properties["Queues"]:
                self._add(
                    f"arn:{p}:sqs:{r}:{a}:{url.rsplit('/', 1)[-1]}",
                    f"{res.stack}/{res.logical_id}",
                    res.properties["PolicyDocument"],
                )
        for res in env.of_type("AWS::KMS::Key"):
            self._add(
                env.arn(res),
                f"{res.stack}/{res.logical_id}",
                res.properties["KeyPolicy"],
            )
        for res in env.of_type("AWS::SecretsManager::ResourcePolicy"):
            self._add(
                res.properties["SecretId"], f"{res.stack}/{res.logical_id}", res.properties["ResourcePolicy"]
            )
        for res in env.of_type("AWS::Lambda::Permission"):
            self._add(
                _function_arn(env, res.properties["FunctionName"]),
                f"{res.stack}/{res.logical_id}",
                _permission(res),
            )

    def _roles_in_the_vpc(self) -> set[str]:
        """Keys of the roles whose requests leave through the VPC: functions with a VpcConfig, and
        Glue jobs and crawlers that use a connection (Glue puts their interfaces in its subnet)."""
        arns = {
            str(r.properties["Role"])
            for r in self.env.of_type("AWS::Lambda::Function")
            if r.properties.get("VpcConfig", {}).get("SubnetIds")
        }
        arns |= {
            str(r.properties["Role"])
            for r in self.env.of_type("AWS::Glue::Job")
            if r.properties.get("Connections", {}).get("Connections")
        }
        arns |= {
            str(r.properties["Role"])
            for r in self.env.of_type("AWS::Glue::Crawler")
            if r.properties.get("Targets", {}).get("JdbcTargets")
        }
        return {role.key for role in self.roles.values() if role.arn in arns}

    # -- lookups ---------------------------------------------------------------------------------

    def role(self, principal: str) -> Role:
        """The role of an inventory principal: ``function:<folder>`` (the role described "Runs
        <folder>:"), ``state_machine:<asl name>`` (the role of that pipeline's state machine) or
        ``role:<unit>:<path>``."""
        kind, _, name = principal.partition(":")
        if kind == "function":
            found = [role for role in self.roles.values() if role.description.startswith(f"Runs {name}:")]
        elif kind == "state_machine":
            found = [self.roles[self.state_machine(name).role_key]]
        elif kind == "role":
            found = [self.roles[name]] if name in self.roles else []
        else:
            raise TemplateError(f"{principal} is not a role principal")
        if len(found) != 1:
            raise TemplateError(f"{principal}: expected one role, found {len(found)}")
        return found[0]

    def state_machine(self, asl_name: str) -> StateMachine:
        for res in self.env.of_type("AWS::StepFunctions::StateMachine"):
            if res.stack.lower() == asl_name:
                role = self.by_arn[res.properties["RoleArn"]]
                definition = str(res.properties["DefinitionString"])
                for name, value in res.properties.get("DefinitionSubstitutions", {}).items():
                    definition = definition.replace("${" + name + "}", str(value))
                return StateMachine(self.env.ref(res), role.key, definition)
        raise TemplateError(f"no state machine of {asl_name}")

    def function_environment(self, folder: str) -> Mapping[str, str]:
        role = self.role(f"function:{folder}")
        for res in self.env.of_type("AWS::Lambda::Function"):
            if res.properties.get("Role") == role.arn:
                return dict(res.properties.get("Environment", {}).get("Variables", {}))
        raise TemplateError(f"no function runs as {role.key}")

    def policy_holder(self, arn: str) -> str:
        """The ARN whose resource policy governs ``arn``: an object's bucket, a function version's
        function, else ``arn`` itself."""
        if arn.startswith(f"arn:{self.env.partition}:s3:::"):
            return arn.split("/", 1)[0]
        if arn.startswith(f"arn:{self.env.partition}:lambda:"):
            return ":".join(arn.split(":")[:7])
        return arn

    def resource_policy(self, arn: str) -> list[tuple[str, Policy]]:
        """The policies of the resource ``arn`` names (an object's are its bucket's)."""
        return self.resource_policies.get(self.policy_holder(arn), [])


@dataclass(frozen=True)
class StateMachine:
    arn: str
    role_key: str
    definition: str


def _function_arn(env: Environment, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:{env.partition}:lambda:{env.region}:{env.account}:function:{name}"


def _permission(res: Resource) -> Policy:
    """An ``AWS::Lambda::Permission`` as the function policy statement Lambda makes of it."""
    props = res.properties
    principal = props["Principal"]
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Action": props["Action"],
        "Resource": props["FunctionName"],
        "Principal": {"Service": principal} if principal.endswith(".amazonaws.com") else {"AWS": principal},
    }
    condition: dict[str, dict[str, str]] = {}
    if "SourceArn" in props:
        condition["ArnLike"] = {"aws:SourceArn": props["SourceArn"]}
    if "SourceAccount" in props:
        condition["StringEquals"] = {"aws:SourceAccount": props["SourceAccount"]}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


#: AWS managed policies that CDK's own helper functions use, as AWS publishes them.
_MANAGED = {
    "service-role/AWSLambdaBasicExecutionRole": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "*",
            }
        ],
    }
}


def _managed(arn: str) -> Policy:
    name = arn.split(":policy/", 1)[-1]
    if name not in _MANAGED:
        raise TemplateError(f"managed policy {arn} is not known to tools/iam_check/principals.py")
    return _MANAGED[name]
