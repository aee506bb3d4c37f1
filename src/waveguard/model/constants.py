"""The one documented set of physical constants behind waveguard's cost model.

analyse, the simulator and the projection gate all read these values; nothing else in the
code base holds a number that describes kube-apiserver, etcd or a client. Each constant says
where it comes from:

* ``k8s:`` a Kubernetes source file or documentation page (exact value);
* ``domain.md §N``: the team's fact sheet, ``../shared/domain.md``;
* ``estimate:`` an engineering estimate with its reasoning, to be checked against published
  measurements by ``waveguard fidelity``. Estimates are deliberately round numbers.

Units are in the names: ``_S`` seconds, ``_BYTES`` bytes, ``_PER_S`` per second.
"""

from __future__ import annotations

# --- APF server concurrency -------------------------------------------------------------
#: --max-requests-inflight default. k8s: kube-apiserver flags; domain.md §2.
MAX_REQUESTS_INFLIGHT = 400
#: --max-mutating-requests-inflight default. k8s: kube-apiserver flags; domain.md §2.
MAX_MUTATING_REQUESTS_INFLIGHT = 200
#: First Kubernetes version whose apiserver runs API Priority and Fairness by default (feature
#: gate APIPriorityAndFairness: alpha 1.18, beta and on by default from 1.20; k8s: "Feature
#: Gates" reference). Before it the max-in-flight filter (k8s: staging/src/k8s.io/apiserver/
#: pkg/server/filters/maxinflight.go, WithMaxInFlightLimit) admits up to MAX_REQUESTS_INFLIGHT
#: read-only and MAX_MUTATING_REQUESTS_INFLIGHT mutating requests per apiserver — each request
#: one, whatever its size; long-running requests (WATCH) and system:masters not counted — and
#: answers 429 beyond that: no seats, no queues, no fairness.
APF_DEFAULT_SINCE = (1, 20)
#: First version whose priority levels lend and borrow seats (KEP-1040 borrowing:
#: flowcontrol.apiserver.k8s.io/v1beta3, Kubernetes 1.26, added lendablePercent and
#: borrowingLimitPercent). Before it, each level's limit is fixed at its share of the server's
#: seats (v1beta2 assuredConcurrencyShares: ACV = ceil(SCL × ACS / ΣACS)).
APF_BORROWING_SINCE = (1, 26)
#: Seats per apiserver replica (400 + 200). k8s: "API Priority and Fairness"; domain.md §2.
SEATS_PER_REPLICA = MAX_REQUESTS_INFLIGHT + MAX_MUTATING_REQUESTS_INFLIGHT
#: Seconds between APF borrowing readjustments. k8s: apf_controller.go; domain.md §2.
APF_READJUST_PERIOD_S = 10.0

# --- APF work estimation (domain.md §3) --------------------------------------------------
#: k8s: staging/src/k8s.io/apiserver/pkg/util/flowcontrol/request/config.go (objectsPerSeat).
APF_OBJECTS_PER_SEAT = 100
#: k8s: request/config.go (maximumSeatsLimit).
APF_MAX_SEATS_LIMIT = 10
#: A LIST's cap with SizeBasedListCostEstimate on (1.34+; MaximumListSeatsLimit, writes keep 10):
#: kubernetes PR #133034 "Increase APF max seats to 100 for LIST requests" (July 2025).
APF_MAX_LIST_SEATS_SIZE_BASED = 100
#: Max seats of one request as a share of its level's nominal seats (and ≤ nominal / handSize).
#: k8s: apf_controller.go, priorityLevelMaxSeatsPercent = 0.15 (PR #118601).
APF_MAX_SEATS_FRACTION = 0.15
#: Watchers per extra writer seat. k8s: request/config.go (watchesPerSeat = 10).
APF_WATCHES_PER_SEAT = 10
#: Seconds the extra writer seats are held after the response.
#: k8s: request/config.go (eventAdditionalDuration = 5ms).
APF_EVENT_ADDITIONAL_DURATION_S = 0.005

# --- Object sizes (JSON, as served) ------------------------------------------------------
#: Bytes per object by resource. Pods: domain.md §3 gives 1–8 KiB, 4 KiB is its middle.
#: Others — estimate from typical `kubectl get -o json` sizes: Nodes carry images and
#: conditions (~12 KiB); ReplicaSets/Deployments carry a pod template (~3 KiB); small
#: objects (Namespaces, Leases) ~0.5 KiB.
OBJECT_BYTES: dict[str, int] = {
    "pods": 4096,
    "nodes": 12288,
    "replicasets": 3072,
    "deployments": 3072,
    "daemonsets": 3072,
    "statefulsets": 3072,
    "jobs": 2048,
    "cronjobs": 2048,
    "services": 1024,
    "endpoints": 2048,
    "endpointslices": 2048,
    "configmaps": 2048,
    "secrets": 2048,
    "events": 1024,
    "namespaces": 512,
    "leases": 512,
    "persistentvolumeclaims": 1024,
    "persistentvolumes": 1024,
    "ingresses": 1024,
    "horizontalpodautoscalers": 1024,
    "resourcequotas": 512,
    "replicationcontrollers": 2048,
}
DEFAULT_OBJECT_BYTES = 2048  #: fallback for resources not listed above. estimate.
#: Largest size one object can have as served, the bound a fleet file's ``object_bytes`` must
#: respect: etcd refuses a write over --max-request-bytes, 1.5 MiB by default (etcd.io
#: op-guide/configuration), and an object's JSON is at most about twice its stored protobuf.
MAX_OBJECT_BYTES = 3 << 20

# --- Service time of a request (seconds) -------------------------------------------------
#: Fixed cost of any request (auth, admission, routing). estimate: ~5 ms is the usual
#: p50 of a GET in a healthy cluster (sig-scalability dashboards show single-digit ms).
REQUEST_BASE_S = 0.005
#: Seconds per byte to encode a response (JSON). estimate: Go's encoding of Kubernetes
#: objects runs at roughly 100 MB/s per core.
ENCODE_S_PER_BYTE = 1.0e-8
#: Seconds per object scanned in the watch cache when filtering (label/field selectors that
#: are not indexed). estimate: ~1 µs per object compared in memory.
CACHE_SCAN_S_PER_OBJECT = 1.0e-6

# --- etcd: a shared resource (fidelity issue 7) -----------------------------------------------
# A LIST served from etcd first waits for etcd's range response (the apiserver holds its seat —
# or, before 1.20, its in-flight slot — and the part of the response that has arrived), then
# decodes and encodes it. The range reads of every apiserver replica of a cluster share the
# cluster's etcd (waveguard.sim.etcd). Bytes read from etcd are the objects' stored size
# (waveguard.model.storage.stored_object_bytes: protobuf for built-in resources, JSON for custom
# resources); the apiserver's decoding, encoding and memory are counted per JSON byte.
#: Bytes of an object's protobuf encoding per byte of its JSON encoding, for what kube-apiserver
#: stores in etcd (built-in resources: waveguard.model.storage.stored_as_protobuf).
#: kubernetes/community contributors/design-proposals/api-machinery/protobuf.md (2016, measured
#: on the API objects): "a 2x reduction in size in bytes on the wire". Corroborated for pods by
#: responses of a real apiserver (skooner-k8s/skooner#202, 2021: a PodList of 114 kB as JSON,
#: 56 kB as protobuf — 0.49; #179: one pod 4.5 kB → 2 kB).
PROTOBUF_BYTES_PER_JSON_BYTE = 0.5
#: Members of a cluster's etcd. k8s: "Operating etcd clusters for Kubernetes" (odd-sized
#: clusters, three for HA); EKS runs three etcd instances across three Availability Zones
#: (docs.aws.amazon.com/eks, "Amazon EKS architecture").
ETCD_MEMBERS = 3
#: Bytes per second one range request receives: one member answers it, over its network link.
#: etcd.io/docs/v3.5/op-guide/hardware/#network: "1GbE is sufficient for common etcd
#: deployments" — 1 Gbit/s = 125 MB/s. estimate from that recommendation.
ETCD_RANGE_BYTES_PER_S = 125.0e6
#: Bytes per second the whole etcd cluster returns to range reads (every replica's LISTs from
#: etcd share it, an equal share each, none faster than ETCD_RANGE_BYTES_PER_S): the members'
#: links together, 3 × 125 MB/s. Linearizable reads are answered by any member (ReadIndex), and
#: kube-apiserver's etcd client (clientv3 ≥ 3.4) spreads its requests over all endpoints
#: (round-robin balancer).
ETCD_READ_BYTES_PER_S = ETCD_MEMBERS * ETCD_RANGE_BYTES_PER_S
#: Seconds the apiserver spends decoding what etcd returned (decode, defaulting, conversion to the
#: internal version) per byte of the objects' JSON size (OBJECT_BYTES, as ENCODE_S_PER_BYTE),
#: before filtering and encoding them. k8s: kubernetes/community design-proposals/api-machinery/
#: protobuf.md (2016) timed a typical GET per object: etcd → decode 5 µs (protobuf) or 50 µs (JSON),
#: defaulting 5 µs, convert to internal 15 µs, against convert to external 15 µs + JSON encode
#: 40 µs = 55 µs (ENCODE_S_PER_BYTE). Built-in resources, stored as protobuf: 25/55 of encoding.
ETCD_DECODE_S_PER_BYTE = ENCODE_S_PER_BYTE * (5.0 + 5.0 + 15.0) / 55.0
#: The same for custom resources, stored as JSON (model.storage.stored_as_protobuf): the same
#: table's 50 µs JSON decode, 70/55 of encoding (2.8× the built-in rate). Its other steps stand for
#: the CR path's pruning, schema defaulting and (same-version) conversion, which it does not time.
ETCD_JSON_DECODE_S_PER_BYTE = ENCODE_S_PER_BYTE * (50.0 + 5.0 + 15.0) / 55.0

# --- Memory of a LIST response -------------------------------------------------------------
#: Bytes held per byte of the response while a LIST from the watch cache is encoded (before
#: streaming encoding in v1.33 the whole response is buffered: the object slice plus the
#: encoded buffer). estimate, informed by the kubernetes.io blog 2024-12-17 (API streaming)
#: and 2025-05-09 (streaming list encoding: 70–80 GB → 3 GB in one benchmark).
LIST_FROM_CACHE_MEMORY_MULTIPLIER = 2.0
#: Same for a LIST served from etcd: etcd's response, the decoded objects and the encoded
#: buffer are alive together. estimate (same sources); checked by the fidelity issue against
#: antrea-io/antrea#1044 (>1 GB rise for 50 etcd LISTs of 10,000 pods).
LIST_FROM_ETCD_MEMORY_MULTIPLIER = 5.0
#: Bytes of watch cache per byte of stored object (the object and its cached serialisation).
#: estimate.
WATCH_CACHE_MEMORY_MULTIPLIER = 2.0
#: Resident memory of an idle kube-apiserver, bytes. estimate (~1 GiB for the process,
#: informers of its own controllers, caches of small resources).
APISERVER_BASE_MEMORY_BYTES = 1 << 30

# --- Clients ------------------------------------------------------------------------------
#: client-go's default request timeout used by most agents for LIST (seconds). estimate:
#: many agents set 60 s; the Calico report (domain.md §7, projectcalico/node#1200) used 60 s.
CLIENT_TIMEOUT_S = 60.0
APISERVER_REQUEST_TIMEOUT_S = 60.0  #: kube-apiserver's --request-timeout default (s). k8s: its flags
#: Lease renewal period of client-go leader election, seconds (RetryPeriod default 2 s).
#: k8s: client-go tools/leaderelection; OTel's k8s_leader_elector uses the same defaults.
LEADER_ELECTION_RETRY_PERIOD_S = 2.0
#: Kubelet node-lease renewal period, seconds (0.25 × 40 s lease). k8s: kubelet
#: nodeLeaseDurationSeconds = 40, renewInterval = 25 %.
KUBELET_LEASE_RENEW_PERIOD_S = 10.0
#: Kubelet node status report period when nothing changes, seconds. k8s: kubelet
#: nodeStatusReportFrequency = 5 min.
KUBELET_STATUS_REPORT_PERIOD_S = 300.0

# --- Cluster shape defaults (derived from node count) --------------------------------------
#: Pods per node of the default fleet. domain.md / issue 2 (30 pods per node).
DEFAULT_PODS_PER_NODE = 30
#: Writes over one pod's life: create, bind, ~3 status updates, delete. estimate.
POD_WRITES_PER_POD_LIFETIME = 6
#: Pod writes per pod per second (creation, binding, status changes, deletion spread over
#: a pod's life). estimate: 6 writes over a mean lifetime of ~17 h → 1e-4 /s per pod.
POD_WRITES_PER_POD_PER_S = 1.0e-4
#: Ratios of other objects to pods in a busy cluster. estimate, matched to the sig-scalability
#: tested envelope (150,000 pods, 10,000 services: domain.md §4).
SERVICES_PER_POD = 10_000 / 150_000
DEPLOYMENTS_PER_POD = 0.1
REPLICASETS_PER_DEPLOYMENT = 3.0
EVENTS_PER_POD = 2.0
CONFIGMAPS_PER_POD = 0.1
SECRETS_PER_POD = 0.1
PODS_PER_NAMESPACE = 100
#: Baseline watchers of pods besides any agent: kube-scheduler, controllers, CoreDNS (via
#: EndpointSlices, not pods), kube-proxy (not pods). estimate: about 10 cluster-wide pod
#: watchers per apiserver in a typical control plane.
BASELINE_POD_WATCHERS = 10
KUBELET_POD_WATCHERS_PER_NODE = 1  #: node-filtered pod watchers: every kubelet watches its own pods

# --- Simulator (`waveguard simulate`, issue 3) ----------------------------------------------
# "calibrated:" marks a value chosen so the incident scenario reproduces the public timeline.

# APF queuing --------------------------------------------------------------------------------
#: Longest a request waits in an APF queue before a 429 (reason "time-out"): kube-apiserver
#: hands APF RequestTimeout/4. k8s: staging/src/k8s.io/apiserver/pkg/server/config.go
#: (WithPriorityAndFairness(..., c.RequestTimeout/4)).
APF_QUEUE_WAIT_LIMIT_S = APISERVER_REQUEST_TIMEOUT_S / 4

# kube-apiserver process ------------------------------------------------------------------------
#: Bytes of memory limit per CPU core of an apiserver replica: general-purpose cloud VMs carry
#: 4 GiB per vCPU (AWS m-family, GCP n2-standard). estimate; cores = memory limit / this.
APISERVER_MEMORY_BYTES_PER_CORE = 4 << 30
#: CPU seconds every request costs before APF dispatches or rejects it (HTTP/2 framing,
#: authentication from the token cache, authorization, audit, classification): what a 429
#: costs. estimate: ~0.5 ms, the CPU share of a small GET in apiserver profiles.
REQUEST_ADMISSION_CPU_S = 5.0e-4
#: CPU seconds to deliver one watch event to one watcher (the event is serialised once; each
#: watcher filters and writes it). estimate: ~10 µs.
WATCH_EVENT_CPU_S = 1.0e-5
#: Peak resident bytes per live byte of transient heap (LIST responses being built): with Go's
#: default GOGC=100 the heap grows to twice the live heap before the next collection, and
#: kube-apiserver sets no GOMEMLIMIT. Go GC guide (go.dev/doc/gc-guide, "GOGC").
GO_HEAP_GROWTH_FACTOR = 2.0
#: Seconds from process start to serving, before the watch cache is filled from etcd (flags,
#: etcd connection, post-start hooks). estimate.
APISERVER_STARTUP_S = 20.0
#: Container restart back-off after a crash: 10 s, doubling to 5 min; reset after 10 min of
#: running. k8s: pkg/kubelet/kubelet.go (backOffPeriod, MaxContainerBackOff), kubelet docs
#: "CrashLoopBackOff".
CRASHLOOP_BACKOFF_INITIAL_S = 10.0
CRASHLOOP_BACKOFF_MAX_S = 300.0
CRASHLOOP_BACKOFF_RESET_S = 600.0

# Clients --------------------------------------------------------------------------------------------
#: client-go reflector back-off after a failed LIST/WATCH: 800 ms doubling to 30 s, jitter 1.0
#: (a wait of d lasts uniformly d..2d). k8s: staging/src/k8s.io/client-go/tools/cache/reflector.go
#: (NewExponentialBackoffManager(800ms, 30s, 2min, 2.0, 1.0)).
CLIENT_BACKOFF_INITIAL_S = 0.8
CLIENT_BACKOFF_MAX_S = 30.0
CLIENT_BACKOFF_FACTOR = 2.0
CLIENT_BACKOFF_JITTER = 1.0
#: Delay before a client without back-off re-sends a failed request. estimate: one round trip
#: plus the retry loop, ~1 s (the retry-without-backoff pattern of domain.md §7).
CLIENT_NO_BACKOFF_RETRY_S = 1.0
#: Pods per second the DaemonSet controller creates for a new DaemonSet: kube-controller-manager's
#: client rate limit. k8s: kube-controller-manager --kube-api-qps (default 20).
DAEMONSET_PODS_CREATED_PER_S = 20.0
#: Who sends the POD_WRITES_PER_POD_LIFETIME writes: controllers create and delete (2), the
#: scheduler binds (1), the kubelet reports status (3). estimate, consistent with that constant.
POD_WRITES_BY_KUBELET_SHARE = 3 / 6
POD_WRITES_BY_CONTROLLERS_SHARE = 2 / 6
POD_WRITES_BY_SCHEDULER_SHARE = 1 / 6
#: Kubernetes API requests per second per pod from workloads that use the API (operators, job
#: launchers, CI runners; mostly GETs). estimate: one pod in 100 sends one request a second.
WORKLOAD_API_REQUESTS_PER_POD_PER_S = 0.01
#: Share of user-facing requests whose handling needs a Kubernetes API call to succeed.
#: estimate.
WORKLOAD_API_DEPENDENT_SHARE = 0.05
#: Coefficient of variation of baseline request demand from one second to the next. estimate.
BASELINE_DEMAND_CV = 0.05

# DNS ----------------------------------------------------------------------------------------------
#: CoreDNS replicas: one per 16 nodes, at least 2. k8s: cluster/addons/dns-horizontal-autoscaler
#: (cluster-proportional-autoscaler "linear": nodesPerReplica 16, preventSinglePointFailure).
COREDNS_NODES_PER_REPLICA = 16
COREDNS_MIN_REPLICAS = 2
#: Rate at which a CoreDNS pod restarts for reasons unrelated to the control plane (node
#: replacement, eviction), per pod per second. estimate: about once a week.
COREDNS_POD_RESTART_PER_S = 1.0 / (7 * 86400)
#: Lookups per node per second that pass the node-local cache and reach CoreDNS. estimate:
#: ~300 distinct names per node, refreshed once per node-cache TTL (10 min).
DNS_LOOKUPS_TO_COREDNS_PER_NODE_PER_S = 0.5
#: TTLs of the two caches in front of CoreDNS: the client's (resolver, runtime) and the node-local
#: cache's. An answer keeps working after CoreDNS fails until both copies expired; remaining
#: lifetimes are uniform over each TTL, so failures spread over their sum. calibrated:
#: 10 + 10 min = the ~20 minutes over which cached records expired (domain.md §1, §6).
DNS_CLIENT_CACHE_TTL_S = 600.0
DNS_NODE_CACHE_TTL_S = 600.0
#: Seconds until an expired answer is fetched again once CoreDNS answers: the kubernetes
#: plugin's record TTL. domain.md §6 (5 s by default).
DNS_REFETCH_S = 5.0

# Scalability SLOs ---------------------------------------------------------------------------------
#: API call latency SLOs, p99: single-object calls 1 s; namespace LIST 5 s; cluster LIST 30 s.
#: kubernetes/community sig-scalability SLOs; domain.md §4.
SLO_SINGLE_OBJECT_S = 1.0
SLO_NAMESPACE_LIST_S = 5.0
SLO_CLUSTER_LIST_S = 30.0

# issue 12: read path -------------------------------------------------------------------------
#: Bytes per APF seat of the size-based LIST estimate (SizeBasedListCostEstimate, on from 1.34).
#: k8s: staging/src/k8s.io/apiserver/pkg/util/flowcontrol/request/list_work_estimator.go
#: (bytesPerSeat = 100_000).
APF_BYTES_PER_SEAT = 100_000
#: Cap on the bytes the size-based estimate counts for a LIST served from the watch cache (it is
#: streamed). k8s: list_work_estimator.go (cacheWithStreamingMaxMemoryUsage = 1_000_000).
APF_CACHE_STREAMING_MAX_BYTES = 1_000_000
#: Bytes held per response byte by a LIST from the cache when the response is streamed
#: (StreamingCollectionEncodingToJSON/Protobuf, on from 1.33; or a WatchList): the buffered
#: figure × 3/75, the memory the kubernetes.io blog 2025-05-09 ("Kubernetes v1.33: Streaming
#: List responses") measured for its benchmark (70–80 GB buffered → 3 GB streamed).
STREAMING_CACHE_LIST_MEMORY_MULTIPLIER = LIST_FROM_CACHE_MEMORY_MULTIPLIER * 3.0 / 75.0
#: Same for a LIST from etcd: etcd's response and the decoded objects stay alive, the encoded
#: copy (one byte per response byte) is no longer buffered. estimate, from the terms of
#: LIST_FROM_ETCD_MEMORY_MULTIPLIER.
STREAMING_ETCD_LIST_MEMORY_MULTIPLIER = LIST_FROM_ETCD_MEMORY_MULTIPLIER - 1.0

# issue 12: fairness, clients, writes — each value read in the source named beside it.

# client-go informers' LISTs -----------------------------------------------------------------------
#: Page size (``limit``) of a client-go reflector's LIST: its pager's default, kept for
#: resourceVersion="0" ("We also don't turn off pagination for ResourceVersion=\"0\", since watch
#: cache is ignoring Limit in that case anyway"). k8s: staging/src/k8s.io/client-go/tools/pager/
#: pager.go (defaultPageSize = 500) and tools/cache/reflector.go (list), 1.9–1.35.
CLIENT_GO_LIST_PAGE_SIZE = 500

# APF borrowing ----------------------------------------------------------------------------------
#: Seat-demand smoothing of borrowing: every readjustment, smoothed = max(envelope, A × smoothed
#: + (1 − A) × envelope) with envelope = average + standard deviation of the period's seat
#: demand (half-life 5 minutes at 10 s periods). k8s: staging/src/k8s.io/apiserver/pkg/util/
#: flowcontrol/apf_controller.go, seatDemandSmoothingCoefficient = 0.977 and
#: seatDemandStats.update, 1.26–1.35.
APF_SEAT_DEMAND_SMOOTHING = 0.977
#: Retry-After (seconds) of APF's 429s: starts at 1 s; doubled (at most once per Retry-After
#: seconds) when at least 3 × Retry-After requests of the level were dropped in the last
#: Retry-After seconds, up to 32 s; lowered by 1 s when fewer than Retry-After were. k8s:
#: staging/src/k8s.io/apiserver/pkg/util/flowcontrol/dropped_requests_tracker.go
#: (maxRetryAfter = 32, updateRetryAfterIfNeededLocked), server/filters/priority-and-fairness.go
#: (tooManyRequests(..., GetRetryAfter(priorityLevel))), from 1.28: kubernetes PR #117547 "Return
#: dynamic RetryAfter header from APF", opened 24 Apr 2023, after 1.27.0 (11 Apr 2023). Before it
#: APF and the max-in-flight filter answer "Retry-After: 1" (filters/maxinflight.go, retryAfter = "1").
APF_RETRY_AFTER_MIN_S = 1.0
APF_RETRY_AFTER_MAX_S = 32.0
APF_RETRY_AFTER_DROPS_TO_DOUBLE = 3.0
APF_DYNAMIC_RETRY_AFTER_SINCE = (1, 28)

# Client retries and client-side limits ---------------------------------------------------
#: client-go's REST client retries a response that carries Retry-After (429, and 5xx with
#: Retry-After) up to this many times, waiting the Retry-After seconds each time. k8s:
#: staging/src/k8s.io/client-go/rest/request.go (maxRetries: 10 in NewRequest) and
#: rest/with_retry.go (IsNextRetry: attempts > maxRetries → stop; checkWait reads Retry-After),
#: 1.22–1.35 (before with_retry.go, the same 10 in request.go's retry loop).
CLIENT_GO_MAX_RETRIES = 10
#: Attempts of client-go's retry.RetryOnConflict(retry.DefaultRetry, …) after 409s. k8s: client-go
#: util/retry/util.go (DefaultRetry: Steps 5, Duration 10 ms, Factor 1.0, Jitter 0.1), 1.18–1.35.
RETRY_ON_CONFLICT_STEPS = 5
#: client-go's default client-side rate limit when a component sets none: 5 requests/s (burst 10:
#: the model bounds retries by the long-run rate only).
#: k8s: staging/src/k8s.io/client-go/rest/config.go (DefaultQPS = 5, DefaultBurst = 10).
CLIENT_GO_DEFAULT_QPS = 5.0
#: kubelet --kube-api-qps default: 50 from 1.27 (5 before; burst 100 / 10).
#: k8s: pkg/kubelet/apis/config/v1beta1/defaults.go (KubeAPIQPS = 50, KubeAPIBurst = 100),
#: PR #116121 "Bump default API QPS limits for Kubelet" (KEP-1040; 1.27).
KUBELET_API_QPS = 50.0
KUBELET_API_QPS_BEFORE_1_27 = 5.0
KUBELET_API_QPS_SINCE = (1, 27)
#: kube-controller-manager and kube-scheduler client limits (--kube-api-qps defaults; bursts 30
#: and 100). k8s: pkg/controller/apis/config/v1alpha1/defaults.go and
#: staging/src/k8s.io/kube-scheduler/config/v1 (clientConnection): controller-manager 20,
#: scheduler 50.
CONTROLLER_MANAGER_API_QPS = 20.0
SCHEDULER_API_QPS = 50.0

# Writes and etcd ---------------------------------------------------------------------------
#: p99 of etcd's WAL fsync on a healthy disk: etcd's guidance and its operators' alerts say it
#: should stay under 10 ms (etcd.io/docs/v3.5/metrics "etcd_disk_wal_fsync_duration_seconds";
#: OpenShift "Recommended etcd practices": p99 below 10 ms). Used as the fsync time of a commit.
ETCD_WAL_FSYNC_S = 0.010
#: Round trip between etcd members in one region: etcd's tuning guide sets the default
#: heartbeat interval (100 ms) "around round-trip time between members" for a local network,
#: where RTTs are ~1 ms or less; the model takes 1 ms. etcd.io/docs/v3.5/tuning ("Time
#: parameters"). A commit waits one leader → follower round trip and the followers' fsync.
ETCD_PEER_RTT_S = 0.001
#: Seconds from a leader's loss to a new leader: the election timeout default. etcd.io/docs/
#: v3.5/tuning (--election-timeout 1000 ms).
ETCD_ELECTION_TIMEOUT_S = 1.0
#: Longest an etcd request waits (for a leader, among others) before "request timed out": 5 s
#: plus two election timeouts. etcd: server/config/config.go (ServerConfig.ReqTimeout), 3.4–3.6.
ETCD_REQUEST_TIMEOUT_S = 5.0 + 2 * ETCD_ELECTION_TIMEOUT_S
#: Memory of one etcd member of a production control plane: the hardware guide's lower size for
#: "heavy deployments with thousands of watchers and millions of keys" ("16GB to 64GB"; 8 GB for
#: typical ones). etcd.io/docs/v3.5/op-guide/hardware ("Memory"). A fleet file sets its own
#: (``etcd_memory_bytes``).
ETCD_MEMBER_MEMORY_BYTES = 16 << 30
#: Resident memory of an idle etcd member besides the ranges it is serving. estimate: the
#: hardware guide's "small cluster" figure, 2 GB of its 8 GB (etcd.io op-guide/hardware, example
#: hardware configurations).
ETCD_BASE_MEMORY_BYTES = 2 << 30
#: Bytes one etcd member holds per byte of a range response it is serving (stored bytes:
#: waveguard.model.storage.stored_object_bytes): the key-values read from bbolt and the
#: marshalled gRPC response alive together, two copies. estimate; etcd-io/etcd#12342 (etcd's
#: memory under large range requests) is the failure it models.
ETCD_RANGE_MEMORY_MULTIPLIER = 2.0
#: Seconds an etcd member needs after an OOM kill before it serves again (process start, WAL
#: replay, catching up with the leader). estimate: ~10 s for a small member, the kubelet's first
#: restart back-off (CRASHLOOP_BACKOFF_INITIAL_S) dominates.
ETCD_RESTART_S = CRASHLOOP_BACKOFF_INITIAL_S + 5.0
#: Events a crash-looping container writes per restart: one (the kubelet's BackOff / Started
#: events are aggregated by the event recorder into one Event object whose count it patches).
#: k8s: staging/src/k8s.io/client-go/tools/record/events_cache.go (EventAggregator,
#: EventCorrelator: similar events within 10 minutes become one object with a count).
EVENT_WRITES_PER_RESTART = 1.0
