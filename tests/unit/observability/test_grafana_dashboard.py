"""docs/grafana-dashboard.json queries only metrics that nestq's /metrics exposes, with their labels."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from framework.observability.prometheus import collect_families

DASHBOARD = Path(__file__).resolve().parents[3] / "docs" / "grafana-dashboard.json"


def exposed_series() -> dict[str, set[str]]:
    """Series names of the exposition (counters end in _total, histograms in _bucket/_sum/_count)."""
    names: dict[str, set[str]] = {}
    for family in asyncio.run(collect_families([])):
        labels = set(getattr(family, "_labelnames", ()))
        if family.type == "counter":
            names[family.name + "_total"] = labels
        elif family.type == "histogram":
            names[family.name + "_bucket"] = labels | {"le"}
            names[family.name + "_sum"] = labels
            names[family.name + "_count"] = labels
        else:
            names[family.name] = labels
    return names


def test_every_query_uses_exposed_metrics_and_labels() -> None:
    """Each PromQL expression names exposed series only, and groups/filters by labels they carry."""
    series = exposed_series()
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        used = set(re.findall(r"\bnestq_[a-z_]+", expr))
        assert used and used <= set(series), expr
        labels = set(series[next(iter(used))])
        for group in re.findall(r"by \(([^)]*)\)", expr):
            assert {g.strip() for g in group.split(",")} <= labels, expr
        for label in re.findall(r"[{,]\s*([a-z_]+)\s*(?:=~|!~|!=|=)", expr):
            assert label in labels, expr
