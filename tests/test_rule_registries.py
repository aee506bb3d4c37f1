"""The rule and expander registries: one function per rule id, registered once, in order."""

from __future__ import annotations

import pytest

from waveguard.analysis.expanders import EXPANDERS, expander, expander_for
from waveguard.analysis.rules import AGENT_RULES
from waveguard.breakglass.lint import CHANGE_LINTS
from waveguard.model.findings import RULES, RuleRegistry
from waveguard.model.manifests import Document, Location


def test_agent_rules_are_registered_once_in_finding_order():
    assert AGENT_RULES.rule_ids() == ["WG107", "WG101", "WG113", "WG111", "WG102", "WG103", "WG104", "WG105",
                                      "WG106", "WG130", "WG131", "WG132"]
    assert CHANGE_LINTS.rule_ids() == ["WG114"]


def test_a_rule_id_registers_once_and_must_be_documented():
    registry: RuleRegistry = RuleRegistry("test")
    registry.rule("WG101")(lambda view: None)
    with pytest.raises(ValueError, match="registered twice"):
        registry.rule("WG101")
    with pytest.raises(ValueError, match="unknown rule id WG999"):
        registry.rule("WG999")
    assert "WG999" not in RULES


def _doc(api_version: str, kind: str) -> Document:
    return Document(api_version=api_version, kind=kind, name="x", namespace="ns", body={},
                    location=Location(file="f.yaml", line=1))


def test_expander_registry_matches_group_and_kind():
    assert [(e.api_group, e.kind) for e in EXPANDERS] == [("opentelemetry.io", "OpenTelemetryCollector")]
    assert expander_for(_doc("opentelemetry.io/v1beta1", "OpenTelemetryCollector")) is not None
    assert expander_for(_doc("example.com/v1", "OpenTelemetryCollector")) is None
    assert expander_for(_doc("opentelemetry.io/v1beta1", "Instrumentation")) is None
    with pytest.raises(ValueError, match="registered twice"):
        expander("opentelemetry.io", "OpenTelemetryCollector")
