"""Measured request profiles (``waveguard measure --output-file profile.yaml``) in place of analysed or
bounded ones (``analyse --profiles``).

A measured profile names a workload of the change when its ``client`` is the workload's ref
(``Kind/namespace/name``) or, as ``waveguard measure`` names clients, its ServiceAccount
(``ServiceAccount/<namespace>/<name>``, or ``namespace``/``service_account`` fields). It then
replaces that workload's profile: the measured requests, with the workload's own replicas and
update strategy. A measured profile that names no workload of the change (or with no change at
all) is analysed on its own, located in the profile file. Either way it goes through the same
rules as an analysed profile.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ConfigDict

from waveguard.analysis.profiles import Agent
from waveguard.analysis.recognisers import Recognised
from waveguard.model.manifests import Document, Location, Workload
from waveguard.model.requests import RequestProfile


class ProfileDocument(Document):
    """A measured profile with no workload in the change, as the subject of findings."""

    # Built when first made, not when imported: most runs make none (~0.3 ms of start-up, issue 17).
    model_config = ConfigDict(defer_build=True)

    @property
    def ref(self) -> str:
        return self.name


def _names(profile: RequestProfile, workload: Workload) -> bool:
    if profile.client == workload.ref:
        return True
    if profile.user is not None:
        return False  # a kubelet or a user, not a ServiceAccount
    same_account = (profile.namespace, profile.service_account) == (workload.namespace, workload.service_account)
    sa_client = profile.client.startswith("ServiceAccount/")
    return same_account and (sa_client or profile.client.split("/", 1)[-1] == workload.ref.split("/", 1)[-1])


def _replace(agent: Agent, measured: RequestProfile) -> Agent:
    profile = agent.profile.model_copy(update={"classes": list(measured.classes), "upper_bound": False,
                                               "agent": f"{agent.profile.agent} → measured"})
    recognised = Recognised(agent=profile.agent, classes=profile.classes,
                            remarks=[r for r in agent.recognised.remarks if r[0] != "WG115"])
    return Agent(workload=agent.workload, recognised=recognised, profile=profile)


def _standalone(measured: RequestProfile, source: str) -> Agent:
    doc = ProfileDocument(api_version="", kind="DaemonSet" if measured.per_node else "Deployment",
                          name=measured.client, namespace=measured.namespace, body={},
                          location=Location(file=source, line=1))
    workload = Workload(doc=doc, kind="DaemonSet" if measured.per_node else "Deployment",
                        replicas=None if measured.per_node else measured.replicas,
                        service_account=measured.service_account, containers=[])
    profile = measured.model_copy(update={"upper_bound": False})
    return Agent(workload=workload, recognised=Recognised(agent=measured.agent, classes=profile.classes),
                 profile=profile)


def _silent_agent(workload: Workload) -> Agent:
    """A workload of the change that sent nothing analysable (no recogniser, no RBAC)."""
    profile = RequestProfile(client=workload.ref, agent="unrecognised", per_node=workload.per_node,
                             replicas=workload.replicas or 1, namespace=workload.namespace,
                             service_account=workload.service_account)
    return Agent(workload=workload, recognised=Recognised(agent="unrecognised"), profile=profile)


def apply_measured(agents: list[Agent], measured: list[RequestProfile], source: str,
                   workloads: Iterable[Workload] = ()) -> tuple[list[Agent], set[str]]:
    """(agents with measured profiles in place of those they name, plus one agent per measured
    profile that names none; the clients whose profile is measured). ``workloads``: all of the
    change's (a measured profile may name one that no recogniser answered for); ``source``: the
    profile file, where findings on unmatched profiles point."""
    out = list(agents)
    known = {a.workload.ref for a in agents}
    out += [_silent_agent(w) for w in workloads if w.ref not in known and any(_names(m, w) for m in measured)]
    measured_clients: set[str] = set()
    for m in measured:
        hits = [i for i, a in enumerate(out) if _names(m, a.workload)]
        if not hits:
            out.append(_standalone(m, source))
            measured_clients.add(m.client)
        for i in hits:
            out[i] = _replace(out[i], m)
            measured_clients.add(out[i].profile.client)
    return out, measured_clients
