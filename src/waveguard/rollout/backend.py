"""The rollout's backend: one configuration, one :func:`build_backend`.

Three backends, from the ``kind`` and ``signals`` of a :class:`BackendConfig`:

* **simulated** (``kind: sim``, ``signals: sim``) — :class:`~waveguard.rollout.simtarget.SimTarget`:
  the simulator is actuator, clock and signal source;
* **paced simulated** (``kind: sim``, ``signals: prometheus``) —
  :class:`~waveguard.rollout.paced.PacedSimTarget`: the simulator paced against the wall clock,
  served at ``serve_metrics`` to a real Prometheus, gated through it;
* **Kubernetes** (``kind: kubernetes``, ``signals: prometheus``) —
  :class:`~waveguard.rollout.k8s_target.KubernetesActuator`, a
  :class:`~waveguard.rollout.ports.WallClock` from ``started_at``, and
  :class:`~waveguard.rollout.k8s_target.PrometheusSource`.

The configuration is stored in the rollout's ``started`` event (:meth:`BackendConfig.stored`:
what was given, not the defaults), so ``resume`` rebuilds the same backend. Errors:
:class:`~waveguard.model.errors.InputError` naming the option or key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from waveguard.model.errors import InputError, first_error, key_error
from waveguard.model.fleet import Fleet
from waveguard.model.requests import RequestProfile
from waveguard.rollout.k8s_client import KubernetesConfig
from waveguard.rollout.plan import Plan
from waveguard.rollout.ports import Backend, WallClock
from waveguard.signals.prometheus import DNSConfig, PrometheusConfig

if TYPE_CHECKING:
    from waveguard.sim.scenario import Scenario

#: Where to read how to set a backend up (named in error hints).
HINT = "see 'Real clusters' in README.md"


class BackendConfig(BaseModel):
    """Which backend a rollout acts through, and its settings (the ``backend`` of the
    ``started`` event). Seconds are wall-clock seconds; ``started_at`` is Unix time."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["sim", "kubernetes"] = "sim"
    signals: Literal["sim", "prometheus"] = "sim"
    #: ``probe``: cache-bypassing DNS probes where a server is known; ``metrics``: CoreDNS's
    #: SERVFAIL ratio from Prometheus.
    dns_mode: Literal["probe", "metrics"] = "probe"
    prometheus: PrometheusConfig | None = None
    dns: DNSConfig | None = None
    #: 127.0.0.1:PORT where the paced simulated fleet is served for Prometheus to scrape.
    serve_metrics: str | None = None
    #: Built-in scenario name or scenario file: the simulated fleet's DNS design, APF, switches.
    scenario: str | None = None
    kubernetes: KubernetesConfig | None = None
    #: Unix time the rollout started on real clusters (their rollout clock's origin).
    started_at: float = 0.0
    #: The simulator's seed.
    seed: int = Field(0, ge=0)

    @classmethod
    def from_stored(cls, data: dict[str, Any], source: str = "backend") -> "BackendConfig":
        """Validate a stored or assembled configuration. Raises InputError naming the key."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            raise key_error(source, first_error(exc), hint=HINT) from None

    def stored(self) -> dict[str, Any]:
        """What was set (not the defaults), as JSON: the ``started`` event's ``backend``."""
        return self.model_dump(mode="json", exclude_unset=True)

    @property
    def mode(self) -> Literal["simulated", "paced", "kubernetes"]:
        if self.kind == "kubernetes":
            return "kubernetes"
        return "paced" if self.signals == "prometheus" else "simulated"


def build_backend(config: BackendConfig, plan: Plan, fleet: Fleet, profiles: list[RequestProfile], *,
                  log: Callable[[str], None] | None = None) -> Backend:
    """The backend ``config`` describes, for ``plan`` over ``fleet``; ``profiles``: the change's
    analysed profiles (what the simulator's agents send). ``log``: where the paced backend's
    progress notes go (default stderr). Raises InputError."""
    memory_limits = {c.name: float(c.apiserver_memory_bytes) for c in fleet.clusters if c.apiserver_memory_bytes}
    if config.mode == "kubernetes":
        return _kubernetes(config, plan, fleet, memory_limits)
    from waveguard.rollout.simtarget import SimTarget
    from waveguard.sim.options import SimulatorOptions

    if config.scenario:
        inner = SimTarget.for_scenario(load_scenario_ref(config.scenario), config.seed, fleet=fleet, profiles=profiles)
    else:
        inner = SimTarget(fleet, profiles, SimulatorOptions(seed=config.seed, expected_steps=6 * 3600))
    if config.mode == "simulated":
        return inner
    from waveguard.rollout.paced import PacedSimTarget

    if not config.serve_metrics:
        raise InputError("--signals prometheus", "the simulated fleet needs --serve-metrics 127.0.0.1:PORT "
                         "for Prometheus to scrape", hint="and a Prometheus scraping it: waveguard exporter --help")
    if config.prometheus is None:
        raise InputError("--signals prometheus", "no Prometheus URL", hint="pass --prometheus-url http://HOST:9090")
    return PacedSimTarget(inner, config.prometheus, listen=config.serve_metrics, dns_probe=config.dns_mode == "probe",
                          dns=config.dns, gate_interval_s=plan.gate_interval_s, memory_limits=memory_limits, log=log)


def _kubernetes(config: BackendConfig, plan: Plan, fleet: Fleet, memory_limits: dict[str, float]) -> Backend:
    from waveguard.analysis import load_change
    from waveguard.rollout.k8s_target import KubernetesActuator, PrometheusSource

    if config.prometheus is None:
        raise InputError("--target kubernetes", "real clusters need --signals prometheus --prometheus-url URL",
                         hint="gates read Prometheus and DNS probes; there is no simulator to read")
    actuator = KubernetesActuator(fleet, load_change([plan.change]), config.kubernetes or KubernetesConfig())
    source = PrometheusSource(config.prometheus, config.dns, memory_limits, actuator.reached)
    return Backend(actuator, WallClock(config.started_at), source)


def check_backend_clusters(config: BackendConfig, clusters: list[str], source: str) -> None:
    """Raises InputError when the backend's per-cluster settings (``dns.clusters``,
    ``kubernetes.contexts``) name a cluster the fleet does not have: a typo there would leave
    the real cluster without them, silently."""
    named: list[tuple[str, set[str]]] = [
        ("dns.clusters", set(config.dns.clusters) if config.dns else set()),
        ("kubernetes.contexts", set(config.kubernetes.contexts) if config.kubernetes else set())]
    for key, per_cluster in named:
        unknown = sorted(per_cluster - set(clusters))
        if unknown:
            raise InputError(source, f"{key}: no cluster named {unknown[0]!r} in the fleet",
                             hint="fix the name or pass the right --fleet")


#: Seconds each pre-flight request may take with its retries. Policy: an apiserver that cannot
#: answer GET /version within 20 s at the start is not one to start a rollout on.
PREFLIGHT_REQUEST_DEADLINE_S = 20.0


def preflight(config: BackendConfig, plan: Plan, fleet: Fleet, **actuator: Any) -> None:
    """Before ``rollout start`` writes anything (issue 14): for real clusters, Prometheus scrapes
    every cluster the plan touches, every context loads and answers, and the guard may do what
    the rollout does (:mod:`waveguard.rollout.k8s_preflight`); for the simulated fleet behind
    Prometheus, that Prometheus answers; nothing for the simulated backend.
    ``actuator``: keyword arguments for the actuator (tests: ``clock``, ``sleep``). Raises
    InputError with the reason."""
    if config.mode == "paced" and config.prometheus is not None:
        from waveguard.rollout.k8s_preflight import check_prometheus

        # the simulated fleet is served once the rollout starts: its series may be absent yet, but a
        # URL where nothing answers would only pause the rollout until its no-data timeout
        check_prometheus(config.prometheus, [])
    if config.mode != "kubernetes":
        return
    from waveguard.analysis import load_change
    from waveguard.rollout.k8s_preflight import check_clusters, check_prometheus
    from waveguard.rollout.k8s_target import KubernetesActuator

    if config.prometheus is None:
        raise InputError("--target kubernetes", "real clusters need --signals prometheus --prometheus-url URL",
                         hint="gates read Prometheus and DNS probes; there is no simulator to read")
    k8s = config.kubernetes or KubernetesConfig()
    check_kubeconfig_files(k8s)  # local files before any round trip: not "Prometheus unreachable" first
    clusters = sorted({c.name for wave in plan.waves for c in plan.clusters_of(wave, fleet)})
    check_prometheus(config.prometheus, clusters)
    k8s = k8s.model_copy(update={"request_deadline_s": min(k8s.request_deadline_s, PREFLIGHT_REQUEST_DEADLINE_S)})
    target = KubernetesActuator(fleet, load_change([plan.change]), k8s, **actuator)
    try:
        check_clusters(target, clusters)
    finally:
        target.close()


def check_kubeconfig_files(k8s: KubernetesConfig) -> None:
    """Raises InputError naming a kubeconfig given (``--kubeconfig``, the backend file's
    ``kubernetes.kubeconfig`` / ``rollback_kubeconfig``) that is no readable file. ``$KUBECONFIG``
    is the client's to read: a list whose missing files it skips, as kubectl does."""
    import os

    from waveguard.rollout.k8s_preflight import HINT

    for path, key in ((k8s.kubeconfig, "--kubeconfig / kubernetes.kubeconfig"),
                      (k8s.rollback_kubeconfig, "kubernetes.rollback_kubeconfig")):
        if path is not None and not (os.path.isfile(path) and os.access(path, os.R_OK)):
            what = "no such file" if not os.path.exists(path) else "not a readable file"
            raise InputError(path, f"cannot load kubeconfig: {what} ({key})", hint=HINT)


def load_scenario_ref(ref: str) -> "Scenario":
    """A built-in scenario by name, else a scenario file (InputError when neither)."""
    from waveguard.sim import builtin_names, load_builtin, load_scenario

    return load_builtin(ref) if ref in builtin_names() else load_scenario(ref)


class BackendOptions(BaseModel):
    """The command line's backend options (``waveguard rollout start``), before validation."""

    target: str = "sim"
    signals: str = "sim"
    prometheus_url: str | None = None
    scrape_interval: float | None = None
    time_scale: float | None = None
    serve_metrics: str | None = None
    dns_mode: str = "probe"
    backend_config: str | None = None
    kubeconfig: str | None = None
    scenario: str | None = None
    seed: int = 0


def backend_from_options(opts: BackendOptions, *, now: Callable[[], float] | None = None) -> BackendConfig:
    """The backend configuration of the command line's options and ``--backend-config`` file.
    ``now``: Unix time for ``started_at`` of real clusters (default time.time). Raises
    InputError naming the option (or the file and key) at fault."""
    import time

    from waveguard.signals.prometheus import load_config

    _check_choices(opts)
    source = opts.backend_config or "command line"
    conf = _read_config_file(opts.backend_config) if opts.backend_config else {}
    _check_sections(opts, conf, source)
    prom = dict(conf.get("prometheus") or {})
    for key, value in (("url", opts.prometheus_url), ("scrape_interval_s", opts.scrape_interval),
                       ("time_scale", opts.time_scale)):
        if value is not None:
            prom[key] = value
    _check_combination(opts, prom)
    backend: dict[str, Any] = {"kind": opts.target, "signals": opts.signals, "dns_mode": opts.dns_mode}
    if opts.signals == "prometheus":
        backend["prometheus"] = prom
    if conf.get("dns"):
        backend["dns"] = conf["dns"]
    load_config(backend, source)  # the sections' errors name their keys
    _check_signals_for_target(opts)
    if opts.serve_metrics:
        backend["serve_metrics"] = _fixed_listen(opts.serve_metrics)
    if opts.scenario:
        backend["scenario"] = opts.scenario
    if opts.target == "kubernetes":
        k8s = dict(conf.get("kubernetes") or {})
        if opts.kubeconfig is not None:
            k8s["kubeconfig"] = opts.kubeconfig
        KubernetesConfig.from_backend(k8s, source)
        backend["kubernetes"] = k8s
        backend["started_at"] = (now or time.time)()
    backend["seed"] = opts.seed
    return BackendConfig.from_stored(backend, source)


def _check_choices(opts: BackendOptions) -> None:
    if opts.target not in ("sim", "kubernetes"):
        raise InputError("--target", f"unknown target {opts.target!r}", hint="sim or kubernetes")
    if opts.signals not in ("sim", "prometheus"):
        raise InputError("--signals", f"unknown signals {opts.signals!r}", hint="sim or prometheus")
    if opts.dns_mode not in ("probe", "metrics"):
        raise InputError("--dns", f"unknown DNS mode {opts.dns_mode!r}", hint="probe or metrics")


def _read_config_file(path: str) -> dict[str, Any]:
    """The ``--backend-config`` YAML: a mapping with prometheus, dns and kubernetes sections,
    each a mapping of settings (or empty). Raises InputError naming the file (and the line)."""
    from waveguard.model.yamlio import line_of, read_yaml_file

    data, node, _ = read_yaml_file(path, "backend file")  # duplicate keys, unreadable files: InputError
    conf = data or {}
    if not isinstance(conf, dict) or set(conf) - {"prometheus", "dns", "kubernetes"}:
        raise InputError(path, "expected a mapping with prometheus, dns and kubernetes sections", hint=HINT)
    for name, section in conf.items():
        if section is not None and not isinstance(section, dict):
            raise InputError(path, f"{name}: expected a mapping of settings (key: value), got {section!r:.40}", line=line_of(node, (name,)), hint=HINT)
    return conf


def _check_sections(opts: BackendOptions, conf: dict[str, Any], source: str) -> None:
    """Refuse a section of the backend file that this rollout would drop unread (its errors
    would pass silently): prometheus and dns need --signals prometheus, kubernetes needs
    --target kubernetes."""
    for key in ("prometheus", "dns"):
        if key in conf and opts.signals != "prometheus":
            raise InputError(source, f"the {key} section is only used with --signals prometheus",
                             hint="add --signals prometheus, or drop the section for the simulated fleet")
    if "kubernetes" in conf and opts.target != "kubernetes":
        raise InputError(source, "the kubernetes section is only used with --target kubernetes",
                         hint="add --target kubernetes, or drop the section for the simulated fleet")


def _check_combination(opts: BackendOptions, prom: dict[str, Any]) -> None:
    if opts.signals == "prometheus" and not prom.get("url"):
        raise InputError("--signals prometheus", "no Prometheus URL", hint="pass --prometheus-url http://HOST:9090")
    unused = [flag for flag, value in (("--prometheus-url", opts.prometheus_url), ("--serve-metrics",
              opts.serve_metrics), ("--time-scale", opts.time_scale), ("--scrape-interval", opts.scrape_interval))
              if value is not None]
    if opts.signals == "sim" and unused:
        raise InputError("/".join(unused), "only used with --signals prometheus", hint="add --signals prometheus")
    if opts.target == "kubernetes" and (opts.serve_metrics or opts.scenario):
        raise InputError("--serve-metrics/--scenario", "describe a simulated fleet; real clusters expose their own "
                         "metrics", hint="drop them with --target kubernetes")


def _check_signals_for_target(opts: BackendOptions) -> None:
    if opts.target == "kubernetes" and opts.signals != "prometheus":
        raise InputError("--target kubernetes", "real clusters need --signals prometheus --prometheus-url URL",
                         hint="gates read Prometheus and DNS probes; there is no simulator to read")
    if opts.target == "sim" and opts.signals == "prometheus" and not opts.serve_metrics:
        raise InputError("--signals prometheus", "the simulated fleet needs --serve-metrics 127.0.0.1:PORT "
                         "for Prometheus to scrape", hint="and a Prometheus scraping it: waveguard exporter --help")


def _fixed_listen(listen: str) -> str:
    """``HOST:PORT`` on loopback with a fixed port (Prometheus must know where to scrape)."""
    from waveguard.sim.exporter import parse_listen

    host, port = parse_listen(listen)
    if port == 0:
        raise InputError("--serve-metrics", "give a fixed port: Prometheus must know where to scrape",
                         hint="e.g. 127.0.0.1:9464")
    return f"{host}:{port}"
