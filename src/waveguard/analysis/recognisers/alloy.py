"""Grafana Alloy (and Grafana Agent flow mode) and Prometheus.

Alloy configuration blocks that reach the Kubernetes API (Alloy reference docs):

* ``discovery.kubernetes "x" { role = "pod" ... }``: Prometheus Kubernetes SD (see
  :mod:`prometheus_sd`); a ``selectors { role = "pod" field = "spec.nodeName=..." }`` block
  restricts pods to the agent's node.
* ``loki.source.kubernetes``: tails every target's logs through kube-apiserver
  (``GET pods/log?follow=true``, long-running); with ``clustering`` the targets are shared out
  among the instances, without it every instance tails every target.
* ``prometheus.operator.podmonitors|servicemonitors|probes``: informers on the CRs and the
  pods/endpoints they select, cluster-wide.
* ``remote.kubernetes.configmap|secret``: a GET every ``poll_frequency`` (1 m default).

Prometheus itself: ``kubernetes_sd_configs`` in ``prometheus.yml``.
"""

from __future__ import annotations

import re

import yaml

from waveguard.model.yamlio import safe_load

from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.analysis.recognisers.prometheus_sd import prometheus_sd_classes, sd_classes
from waveguard.model.requests import RequestClass, informer

_BLOCK = re.compile(r'(?m)^\s*([a-z_]+(?:\.[a-z_]+)+)\s+"([^"]*)"\s*\{')
_ATTR = re.compile(r'(?m)^\s*(\w+)\s*=\s*"([^"]*)"')


def alloy_blocks(text: str) -> list[tuple[str, str, str]]:
    """(component, label, body) of every labelled block in an Alloy config. Comments are
    dropped first so commented-out blocks don't count."""
    text = re.sub(r"(?m)//.*$", "", text)
    blocks = []
    for m in _BLOCK.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        blocks.append((m.group(1), m.group(2), text[m.end(): i - 1]))
    return blocks


def _sub_blocks(body: str, name: str) -> list[str]:
    out = []
    for m in re.finditer(rf"(?m)^\s*{name}\s*\{{", body):
        depth, i = 1, m.end()
        while i < len(body) and depth:
            depth += {"{": 1, "}": -1}.get(body[i], 0)
            i += 1
        out.append(body[m.end(): i - 1])
    return out


class AlloyOrPrometheus:
    name = "grafana-alloy/prometheus"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        is_alloy = ctx.image_matches("grafana/alloy", "grafana/agent")
        is_prometheus = ctx.image_matches("prom/prometheus", "prometheus/prometheus")
        if not (is_alloy or is_prometheus):
            return None
        result = Recognised(agent="grafana-alloy" if is_alloy else "prometheus")
        for file_name, text in ctx.config.items():
            if is_alloy and ("{" in text and "discovery." in text or "loki.source" in text or "prometheus." in text):
                self._alloy(ctx, file_name, text, result)
            elif is_prometheus or "scrape_configs" in text:
                try:
                    data = safe_load(text)
                except yaml.YAMLError:
                    continue
                if isinstance(data, dict):
                    result.classes += prometheus_sd_classes(data.get("scrape_configs") or [],
                                                            component=f"{file_name}", key_prefix="scrape_configs")
        return result

    def _alloy(self, ctx: AgentContext, file_name: str, text: str, result: Recognised) -> None:
        blocks = alloy_blocks(text)
        clustered_log_tailing = any(
            c == "loki.source.kubernetes" and any("true" in b for b in _sub_blocks(body, "clustering"))
            for c, _, body in blocks)
        for component, label, body in blocks:
            key = f'{file_name}: {component} "{label}"'
            if component == "discovery.kubernetes":
                result.classes += self._discovery(ctx, body, key, clustered_log_tailing)
            elif component == "loki.source.kubernetes":
                clustered = any("enabled" in b and "true" in b for b in _sub_blocks(body, "clustering"))
                result.classes.append(RequestClass(
                    verb="get", resource="pods/log", scope="object", trigger="held", component=key,
                    config_key=key,
                    fix="read logs from the node's files (loki.source.file with a spec.nodeName selector) instead "
                        "of streaming them through kube-apiserver",
                ))
                share = "shared out among the instances (clustering)" if clustered else "tailed by EVERY instance"
                result.remarks.append((
                    "WG112", "warning" if clustered else "error",
                    f"{key} streams the logs of every discovered pod through kube-apiserver (GET pods/log?follow, "
                    f"long-running): connections grow with pods, {share}",
                    "use loki.source.file on each node's /var/log/pods, with discovery.kubernetes restricted by "
                    'selectors { role = "pod" field = "spec.nodeName=" + sys.env("HOSTNAME") }',
                ))
            elif component.startswith("prometheus.operator."):
                crd = component.rsplit(".", 1)[1]
                result.classes += informer(crd, "cluster", api_group="monitoring.coreos.com", component=key,
                                           config_key=key)
                result.classes += informer("pods" if crd == "podmonitors" else "endpointslices", "cluster",
                                           component=f"{key} (targets)", config_key=key)
            elif component in ("remote.kubernetes.configmap", "remote.kubernetes.secret"):
                result.classes.append(RequestClass(
                    verb="get", resource=component.rsplit(".", 1)[1] + "s", scope="object", trigger="periodic",
                    rate_per_s=1 / 60, component=key, config_key=key,
                ))

    @staticmethod
    def _discovery(ctx: AgentContext, body: str, key: str, clustered_log_tailing: bool) -> list[RequestClass]:
        attrs: dict[str, str] = dict(_ATTR.findall(_strip_sub_blocks(body)))
        role = attrs.get("role", "pod")
        node_roles: set[str] = set()
        for sel in _sub_blocks(body, "selectors"):
            sel_attrs: dict[str, str] = dict(_ATTR.findall(sel))
            field_expr = re.search(r'field\s*=\s*(.+)', sel)
            if field_expr and "spec.nodeName" in field_expr.group(1):
                env = re.search(r'sys\.env\("(\w+)"\)', field_expr.group(1))
                # A node name read from an env var must come from spec.nodeName, else it is empty.
                if env is None or ctx.env_from_node_name(env.group(1)):
                    node_roles.add(sel_attrs.get("role", role))
        namespaced = any("names" in b or "own_namespace" in b for b in _sub_blocks(body, "namespaces"))
        fix = (f'add to {key}: selectors {{ role = "pod" field = "spec.nodeName=" + sys.env("HOSTNAME") }} '
               "(HOSTNAME set from fieldRef spec.nodeName)")
        if clustered_log_tailing:
            fix += ("; and replace loki.source.kubernetes (with clustering) by loki.source.file on the node's "
                    "/var/log/pods: node-local targets with clustering would drop most logs")
        return sd_classes(role, namespaced=namespaced, node_field_roles=node_roles, component=key, config_key=key,
                          fix=fix)


def _strip_sub_blocks(body: str) -> str:
    """The block's own attributes, without nested blocks (selectors, namespaces...)."""
    out, depth = [], 0
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)
