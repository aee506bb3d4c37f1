"""Promtail (grafana/loki ``clients/cmd/promtail``).

Promtail discovers targets with Prometheus service discovery (docs: Promtail "Scraping",
``kubernetes_sd_configs``; it vendors prometheus/discovery/kubernetes), so a scrape config's
informers are :func:`prometheus_sd_classes`: role ``pod`` watches every pod of the cluster
unless a ``selectors`` entry ``{role: pod, field: spec.nodeName=${HOSTNAME}}`` limits it to the
node. The Loki Helm chart's promtail config writes exactly that selector and runs promtail with
``-config.expand-env=true`` and HOSTNAME from fieldRef ``spec.nodeName`` (docs: Promtail
"Configuration", "Use environment variables in the configuration").
"""

from __future__ import annotations

from waveguard.analysis.recognisers.podspec import images_or_binary
from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.analysis.recognisers.prometheus_sd import prometheus_sd_classes


class Promtail:
    name = "promtail"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not images_or_binary(ctx, ("grafana/promtail", "promtail"), ("promtail",)):
            return None
        result = Recognised(agent=self.name)
        for file_name, cfg in ctx.yaml_configs():
            scrape = cfg.get("scrape_configs")
            if isinstance(scrape, list):
                result.classes += prometheus_sd_classes(scrape, component=f"{file_name}: promtail",
                                                        key_prefix=f"{file_name}: scrape_configs",
                                                        node_value="${HOSTNAME}")
        return result
