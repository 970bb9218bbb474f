"""One encrypted SNS alerts topic per environment, and alarms that publish to it."""

from __future__ import annotations

from aws_cdk import Annotations, ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.nag import acknowledge

#: The id of synth's warning that no address subscribes to the alerts topic.
NO_SUBSCRIBER = "ml-pipelines:alertsWithoutSubscriber"


class Alerts(Construct):
    """The alerts topic, encrypted with its own rotating key; ``email`` subscribes an address
    (without one, synth warns that nobody receives the alerts).

    CloudWatch alarms of this account may use the key, so they can publish; EventBridge rules
    publish through a role of their own (see ``stacks.forecast_pipeline``).
    """

    def __init__(self, scope: Construct, construct_id: str, *, email: str | None = None) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            enable_key_rotation=True,
            description="Encrypts the ML pipelines' alerts topic",
        )
        # CloudWatch alarms of this account and region only (the confused-deputy conditions
        # CloudWatch supports on a key policy). EventBridge rules publish through a role instead: a
        # key policy cannot condition the events principal, which sends no aws:SourceAccount to KMS.
        stack = Stack.of(self)
        alarms = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name="*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.key.grant(
            iam.PrincipalWithConditions(
                iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                {"StringEquals": {"aws:SourceAccount": stack.account}, "ArnLike": {"aws:SourceArn": alarms}},
            ),
            "kms:Decrypt",
            "kms:GenerateDataKey*",
        )
        self.topic = sns.Topic(
            self, "Topic", display_name="ML pipelines alerts", master_key=self.key, enforce_ssl=True
        )
        # enforce_ssl makes CDK write a topic policy, which replaces SNS's default one: without this
        # statement no alarm could publish (CloudWatch User Guide, US_SetupSNS, "Preventing confused
        # deputy issues").
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": alarms},
                },
            )
        )
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        else:
            Annotations.of(self).add_warning_v2(
                NO_SUBSCRIBER,
                "alertEmail is not set: the alerts topic has no subscriber, so failed runs, crawls and "
                "dead-lettered events alert no one; set alertEmail or subscribe to the topic yourself",
            )

    def alarm_on(
        self,
        scope: Construct,
        construct_id: str,
        metric: cloudwatch.Metric,
        description: str,
        *,
        statistic: str = "Sum",
        period_minutes: int = 5,
        below_one: bool = False,
    ) -> cloudwatch.Alarm:
        """An alarm in ``scope`` when ``metric``'s ``statistic`` (Sum) over ``period_minutes`` (5)
        hits 1 (``below_one``: falls below 1). A period without data is not an alarm."""
        comparison = cloudwatch.ComparisonOperator
        alarm = cloudwatch.Alarm(
            scope,
            construct_id,
            metric=metric.with_(statistic=statistic, period=Duration.minutes(period_minutes)),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=(
                comparison.LESS_THAN_THRESHOLD if below_one else comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
            ),
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        return alarm

    def failure_queue(self, scope: Construct, construct_id: str, *, holds: str) -> sqs.Queue:
        """An encrypted, SSL-only queue (14 days) for events that could not be handled, in ``scope``,
        with an alarm while any message waits; ``holds`` says what lands there."""
        queue = sqs.Queue(
            scope,
            construct_id,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(queue, SQS3=f"This queue is itself where {holds} end up; its depth raises an alarm.")
        self.alarm_on(
            scope,
            f"{construct_id}Waiting",
            queue.metric_approximate_number_of_messages_visible(),
            f"{holds} are waiting in a failure queue",
            statistic="Maximum",
        )
        return queue
