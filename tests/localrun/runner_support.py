"""What the offline runner's end-to-end modules (and the smoke's) share: the check that a failed
Lambda task's cause holds the function's message only, and DeepAR stand-ins that run in
milliseconds (their ``session`` fixture is in conftest.py)."""

from __future__ import annotations

import json
from typing import Any

from localrun.runner import OfflineSession
from localrun.s3files import split_uri


def assert_message_only(text: str | None) -> None:
    """A failed Lambda task's cause or alert holds the function's errorMessage, not the runtime's
    error JSON with its stack trace (and this machine's paths)."""
    assert text is not None
    for raw in ("errorMessage", "errorType", "stackTrace", "Traceback", ".py"):
        assert raw not in text, f"{raw!r} in {text!r}"


def final_metrics(mean_wql: float | None, rmse: float = 1.0) -> list[dict[str, Any]]:
    """A FinalMetricDataList as DeepAR reports it; ``mean_wql`` None: no test channel metrics."""
    metrics = [{"MetricName": "train:final_loss", "Value": 2.0, "Timestamp": 1764000000000}]
    if mean_wql is not None:
        metrics += [
            {"MetricName": "test:RMSE", "Value": rmse, "Timestamp": 1764000000000},
            {"MetricName": "test:mean_wQuantileLoss", "Value": mean_wql, "Timestamp": 1764000000000},
        ]
    return metrics


def fake_deepar(
    session: OfflineSession, *, mean_wql: float | None = 0.001, off_by: float | None = None
) -> None:
    """Training and transform stand-ins: artifacts, test metrics (``mean_wql``, default 0.001) and
    the transform's two outputs of the right shape. The backtest (train lines) is the actual window
    (a model better than any baseline), or ``off_by`` above it (with 1e6, worse everywhere)."""
    s3 = session.s3
    horizon = session.env.forecast.deepar.prediction_length  # type: ignore[union-attr]

    def training(params: dict[str, Any]) -> dict[str, Any]:
        uri = params["OutputDataConfig"]["S3OutputPath"] + params["TrainingJobName"] + "/output/model.tar.gz"
        bucket, key = split_uri(uri)
        s3.put_object(Bucket=bucket, Key=key, Body=b"model")
        return {
            "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": uri},
            "FinalMetricDataList": final_metrics(mean_wql),
        }

    def forecast_line(values: list[float]) -> str:
        return json.dumps({"quantiles": {q: values for q in ("0.1", "0.5", "0.9")}, "mean": values})

    def transform(params: dict[str, Any]) -> dict[str, Any]:
        bucket, prefix = split_uri(params["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"])
        read = lambda name: s3.get_object(Bucket=bucket, Key=prefix + name)["Body"].read().decode()  # noqa: E731
        whole = [json.loads(line) for line in read("test.json").splitlines()]
        assert len(read("train.json").splitlines()) == len(whole), "one train line per series"
        future = [forecast_line([float(i) for i in range(horizon)]) for _ in whole]
        backtest = []
        for series in whole:
            actual = [0.0 if v == "NaN" else float(v) for v in series["target"][-horizon:]]
            backtest.append(forecast_line([v + (off_by or 0.0) for v in actual]))
        out_bucket, out_prefix = split_uri(params["TransformOutput"]["S3OutputPath"])
        for name, lines in (("test.json.out", future), ("train.json.out", backtest)):
            s3.put_object(Bucket=out_bucket, Key=out_prefix + name, Body=("\n".join(lines) + "\n").encode())
        return {"TransformJobStatus": "Completed"}

    session.aws.bind_sagemaker("training", training)
    session.aws.bind_sagemaker("transform", transform)
