"""Prometheus metrics of the runtime: tool calls, errors and latency per integration and tool.

Each hub owns its own `CollectorRegistry`, so several apps in one process (tests, embedding) never
collide on metric names; `/metrics` renders that registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "HubMetrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class HubMetrics:
    """The hub's counters, histogram and gauges, registered on a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter(
            "mcphub_tool_calls_total",
            "Tool calls, by integration, tool and outcome (ok, tool_error, invalid_arguments, internal_error).",
            ["integration", "tool", "outcome"],
            registry=self.registry,
        )
        self.errors = Counter(
            "mcphub_tool_errors_total",
            "Tool calls that returned an error, by integration and tool.",
            ["integration", "tool"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mcphub_tool_call_duration_seconds",
            "Wall time of a tool call inside the hub (validation, upstream request, shaping).",
            ["integration", "tool"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.packages = Gauge("mcphub_packages_loaded", "Packages currently mounted.", registry=self.registry)
        self.tools = Gauge("mcphub_tools_served", "Enabled tools currently served.", registry=self.registry)
        self.reloads = Counter(
            "mcphub_catalog_reloads_total",
            "Catalog reloads, by result (ok, partial).",
            ["result"],
            registry=self.registry,
        )

    def observe_call(self, integration: str, tool: str, outcome: str, seconds: float) -> None:
        self.calls.labels(integration, tool, outcome).inc()
        if outcome != "ok":
            self.errors.labels(integration, tool).inc()
        self.latency.labels(integration, tool).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
