"""Timing helpers the benchmarks share (helper, not a benchmark).

One definition of a percentile and of a latency summary, so every
benchmark's p99 means the same thing (nearest rank, rounded) and a figure
named ``median_ms`` in one JSON is computed as it is in the next.
"""

import statistics
import time


def percentile(samples: list[float], fraction: float) -> float:
    """The sample at ``fraction`` of the sorted samples (nearest rank)."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(samples: list[float], unit: str | None = 'ms',
            digits: int = 3) -> dict:
    """``{'median_<unit>': .., 'p99_<unit>': ..}`` rounded to ``digits``
    (``median`` and ``p99`` when ``unit`` is None); callers add their own
    count key."""
    suffix = '_' + unit if unit else ''
    return {'median' + suffix: round(statistics.median(samples), digits),
            'p99' + suffix: round(percentile(samples, 0.99), digits)}


def sample_ms(function) -> float:
    """One call of ``function``, in milliseconds."""
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) * 1000.0


def time_ms(function, iterations: int, warmup: int = 3) -> dict:
    """``function`` timed ``iterations`` times after ``warmup`` untimed
    calls: median and p99 in milliseconds."""
    for _ in range(warmup):
        function()
    samples = [sample_ms(function) for _ in range(iterations)]
    return dict(summary(samples), iterations=iterations)


def paired_ms(subject, floor, iterations: int, warmup: int = 3) -> dict:
    """Subject and floor sampled alternately, so a machine whose load
    drifts slows both alike; ``ratio`` of their medians."""
    for _ in range(warmup):
        floor()
        subject()
    subject_samples, floor_samples = [], []
    for _ in range(iterations):
        floor_samples.append(sample_ms(floor))
        subject_samples.append(sample_ms(subject))
    result = {'nova_cells': summary(subject_samples),
              'floor': summary(floor_samples)}
    result['ratio'] = round(result['nova_cells']['median_ms'] /
                            result['floor']['median_ms'], 2)
    return result
