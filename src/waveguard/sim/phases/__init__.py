"""The phases of one simulator step, each a function of ``(state, params, dt)`` that reads and
writes :class:`~waveguard.sim.state.FleetState` (see each module, and
:meth:`waveguard.sim.engine.FleetSimulator.step` for their order):

* :mod:`.informers` — informers and clients: rollout ramp, release after back-off, arrivals,
  informers synced or backing off;
* :mod:`.replicas` — completion, execution, CPU, memory, OOM kills, crashes, recovery;
* :mod:`.apf_dispatch` — APF dispatch, queueing and 429s (max-in-flight before 1.20);
* :mod:`.apf_borrowing` — seat demand and the readjusted limits (borrowing, 1.26+);
* :mod:`.etcd` — LISTs served from etcd wait for it;
* :mod:`.dns` — CoreDNS restarts and failures, DNS caches, the workloads' error ratio;
* :mod:`.latency` — p99 wait per level and latency per scope;
* :mod:`.recording` — the step's frame of metrics.
"""
