"""Demo inputs: a partition CSV for the standardize pipeline and an hourly series for the forecast."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta


def partition_csv(rows: int = 500, seed: int = 2333) -> str:
    """A meta-data partition: an id, an ISO timestamp, three numeric columns and a category."""
    rnd = random.Random(seed)
    start = datetime(2026, 11, 1)
    lines = ["id,timestamp,temperature,pressure,load,site"]
    for i in range(rows):
        ts = (start + timedelta(minutes=15 * i)).isoformat()
        temperature = round(rnd.gauss(21.5, 3.0), 3)
        pressure = "" if i % 97 == 0 else round(1e5 + rnd.gauss(0, 250), 2)
        load = round(rnd.uniform(0, 1), 4)
        lines.append(f"{i},{ts},{temperature},{pressure},{load},{rnd.choice(['north', 'south'])}")
    return "\n".join(lines) + "\n"


def hourly_series(weeks: int = 10, seed: int = 7, gaps: int = 5) -> list[tuple[datetime, float | None]]:
    """``weeks`` of hourly values with daily and weekly seasonality, noise, and a few gaps.

    Defaults: ten weeks (1680 points) ending at the start of today's UTC day, five missing hours.
    """
    rnd = random.Random(seed)
    points = weeks * 7 * 24
    end = datetime(2026, 11, 22)
    start = end - timedelta(hours=points)
    missing = set(rnd.sample(range(24, points - 24), gaps))
    series: list[tuple[datetime, float | None]] = []
    for h in range(points):
        ts = start + timedelta(hours=h)
        daily = 20 * math.sin(2 * math.pi * (ts.hour - 6) / 24)
        weekly = 10 if ts.weekday() < 5 else -15
        value = 100 + daily + weekly + 0.02 * h + rnd.gauss(0, 4)
        series.append((ts, None if h in missing else round(value, 3)))
    return series


#: Real hourly series that a package ships (vega_datasets, requirements-demo.txt; NOAA's hourly
#: temperatures of 2010, stored in the wheel and read offline), by their vega_datasets names.
PACKAGED_HOURLY = ("seattle-temps", "sf-temps")


def packaged_hourly_series(name: str, weeks: int | None = None) -> list[tuple[datetime, float | None]]:
    """The hourly series ``name`` of :data:`PACKAGED_HOURLY` on a regular hourly grid (an hour
    without a reading stays ``None``), or its last ``weeks`` weeks."""
    if name not in PACKAGED_HOURLY:
        raise ValueError(f"{name!r} is not one of {', '.join(PACKAGED_HOURLY)}")
    from vega_datasets import data

    frame = data(name)  # columns date, temp: one reading an hour
    readings = {
        stamp.to_pydatetime(): float(temp) for stamp, temp in zip(frame["date"], frame["temp"], strict=True)
    }
    step = timedelta(hours=1)
    start, end = min(readings), max(readings)
    if weeks is not None:
        start = max(start, end - timedelta(weeks=weeks) + step)
    hours = int((end - start) / step) + 1
    return [(start + h * step, readings.get(start + h * step)) for h in range(hours)]
