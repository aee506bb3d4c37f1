"""The switches of a simulator run, in one place: :class:`SimulatorOptions` (what
:class:`~waveguard.sim.engine.FleetSimulator` takes besides the fleet and the change) and
:func:`simulator_clients` (who talks to the simulated apiservers under those switches).
:meth:`waveguard.sim.scenario.Scenario.simulator_options` maps a scenario onto them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, Sequence

from waveguard.model.apf import APFConfig
from waveguard.model.requests import RequestProfile
from waveguard.sim.clients import CrashLoop, RetryPolicy, SimClient, baseline_clients, change_client, crashloop_client
from waveguard.sim.rollback import RollbackIdentity, rollback_client, rollback_identity

DNSMode = Literal["informer", "api_per_answer"]


@dataclass(frozen=True)
class SimulatorOptions:
    """``FleetSimulator(fleet, profiles, **options.kwargs())``. ``apf`` None: the Kubernetes
    defaults; ``step_s`` seconds (> 0); ``dns_mode``: CoreDNS answers from its watched copy
    (``informer``) or needs an API request per answer (``api_per_answer``); ``*_backoff``: the
    baseline's / change's clients back off on failure (client-go) rather than retry at once;
    ``initial_share``: share of every cluster running the change at t=0; ``expected_steps``
    preallocates the recording; ``noise_keys``: each cluster's noise stream (default: its
    index); ``rollback_as``: identities rollbacks may be sent as (their flows are compiled);
    ``change_retry``: how the change's REST clients retry 429s (``client-go`` | ``immediate`` |
    ``none``); ``crashloop``: a DaemonSet whose crash-looping pods make the kubelets write Events."""

    apf: APFConfig | None = None
    seed: int = 0
    step_s: float = 1.0
    dns_mode: DNSMode = "informer"
    baseline_backoff: bool = True
    change_backoff: bool = True
    initial_share: float = 0.0
    expected_steps: int = 3600
    noise_keys: tuple[int, ...] | None = None
    rollback_as: tuple[str, ...] = ()
    # issue 12: how the change's clients retry 429s; a crash-looping DaemonSet's Events
    change_retry: RetryPolicy = "client-go"
    crashloop: CrashLoop | None = None

    def kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments of :class:`FleetSimulator`."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def replace(self, **changes: Any) -> "SimulatorOptions":
        """A copy with ``changes``."""
        return replace(self, **changes)


def simulator_clients(profiles: Sequence[RequestProfile], *, dns_mode: DNSMode = "informer",
                      baseline_backoff: bool = True, change_backoff: bool = True,
                      rollback_as: Sequence[str | RollbackIdentity] = (), change_retry: RetryPolicy = "client-go",
                      crashloop: CrashLoop | None = None) -> list[SimClient]:
    """Every client of the simulated apiservers: the baseline (kubelets, controllers, CoreDNS,
    workloads), the change's ``profiles`` (retrying 429s as ``change_retry``), the kubelets'
    Events of a ``crashloop`` DaemonSet and one rollback client per identity (duplicates by
    name once). Raises ValueError for an unknown rollback identity name."""
    clients = baseline_clients(backoff=baseline_backoff, api_per_answer_dns=dns_mode == "api_per_answer")
    clients += [change_client(p, change_backoff, change_retry) for p in profiles]
    if crashloop is not None:
        clients.append(crashloop_client())
    return clients + [rollback_client(i) for i in rollback_identities(rollback_as).values()]


def rollback_identities(rollback_as: Sequence[str | RollbackIdentity]) -> dict[str, RollbackIdentity]:
    """Name → identity (``breakglass`` | ``controller`` | ``user`` by name, or given)."""
    return {i.name: i for i in (rollback_identity(x) if isinstance(x, str) else x for x in rollback_as)}
