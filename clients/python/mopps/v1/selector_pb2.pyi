from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

ABORTED: Code
ALREADY_EXISTS: Code
CANCELLED: Code
DATA_LOSS: Code
DEADLINE_EXCEEDED: Code
DESCRIPTOR: _descriptor.FileDescriptor
FAILED_PRECONDITION: Code
INTERNAL: Code
INVALID_ARGUMENT: Code
NOT_FOUND: Code
OK: Code
OUT_OF_RANGE: Code
PERMISSION_DENIED: Code
RESOURCE_EXHAUSTED: Code
STRATEGY_DPS: Strategy
STRATEGY_GRESO: Strategy
STRATEGY_POOLS: Strategy
STRATEGY_THRESHOLD: Strategy
STRATEGY_TOPK: Strategy
STRATEGY_UNIFORM: Strategy
STRATEGY_UNSPECIFIED: Strategy
UNAUTHENTICATED: Code
UNAVAILABLE: Code
UNIMPLEMENTED: Code
UNKNOWN: Code

class CodeCount(_message.Message):
    __slots__ = ["code", "count"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    code: Code
    count: int
    def __init__(self, code: _Optional[_Union[Code, str]] = ..., count: _Optional[int] = ...) -> None: ...

class CreatePoolRequest(_message.Message):
    __slots__ = ["config", "pool"]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    config: PoolConfig
    pool: str
    def __init__(self, pool: _Optional[str] = ..., config: _Optional[_Union[PoolConfig, _Mapping]] = ...) -> None: ...

class CreatePoolResponse(_message.Message):
    __slots__ = ["pool"]
    POOL_FIELD_NUMBER: _ClassVar[int]
    pool: PoolInfo
    def __init__(self, pool: _Optional[_Union[PoolInfo, _Mapping]] = ...) -> None: ...

class DPSConfig(_message.Message):
    __slots__ = ["decay", "entropy_weight", "prior", "prior_counts", "selection"]
    DECAY_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    PRIOR_COUNTS_FIELD_NUMBER: _ClassVar[int]
    PRIOR_FIELD_NUMBER: _ClassVar[int]
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    decay: float
    entropy_weight: float
    prior: str
    prior_counts: _containers.RepeatedScalarFieldContainer[float]
    selection: str
    def __init__(self, decay: _Optional[float] = ..., prior: _Optional[str] = ..., prior_counts: _Optional[_Iterable[float]] = ..., selection: _Optional[str] = ..., entropy_weight: _Optional[float] = ...) -> None: ...

class DropPoolRequest(_message.Message):
    __slots__ = ["pool"]
    POOL_FIELD_NUMBER: _ClassVar[int]
    pool: str
    def __init__(self, pool: _Optional[str] = ...) -> None: ...

class DropPoolResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ["pool"]
    POOL_FIELD_NUMBER: _ClassVar[int]
    pool: str
    def __init__(self, pool: _Optional[str] = ...) -> None: ...

class ExportResponse(_message.Message):
    __slots__ = ["alpha_le", "beta_le", "ids_le", "named_ids", "names"]
    ALPHA_LE_FIELD_NUMBER: _ClassVar[int]
    BETA_LE_FIELD_NUMBER: _ClassVar[int]
    IDS_LE_FIELD_NUMBER: _ClassVar[int]
    NAMED_IDS_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    alpha_le: bytes
    beta_le: bytes
    ids_le: bytes
    named_ids: _containers.RepeatedScalarFieldContainer[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids_le: _Optional[bytes] = ..., alpha_le: _Optional[bytes] = ..., beta_le: _Optional[bytes] = ..., named_ids: _Optional[_Iterable[int]] = ..., names: _Optional[_Iterable[str]] = ...) -> None: ...

class GRESOConfig(_message.Message):
    __slots__ = ["adapt", "easy_threshold", "hard_threshold", "keep_floor", "p_easy", "p_hard", "p_max", "p_min", "step_size", "target_zero_share"]
    ADAPT_FIELD_NUMBER: _ClassVar[int]
    EASY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    HARD_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    KEEP_FLOOR_FIELD_NUMBER: _ClassVar[int]
    P_EASY_FIELD_NUMBER: _ClassVar[int]
    P_HARD_FIELD_NUMBER: _ClassVar[int]
    P_MAX_FIELD_NUMBER: _ClassVar[int]
    P_MIN_FIELD_NUMBER: _ClassVar[int]
    STEP_SIZE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ZERO_SHARE_FIELD_NUMBER: _ClassVar[int]
    adapt: bool
    easy_threshold: float
    hard_threshold: float
    keep_floor: float
    p_easy: float
    p_hard: float
    p_max: float
    p_min: float
    step_size: float
    target_zero_share: float
    def __init__(self, p_easy: _Optional[float] = ..., p_hard: _Optional[float] = ..., target_zero_share: _Optional[float] = ..., easy_threshold: _Optional[float] = ..., hard_threshold: _Optional[float] = ..., step_size: _Optional[float] = ..., p_min: _Optional[float] = ..., p_max: _Optional[float] = ..., keep_floor: _Optional[float] = ..., adapt: bool = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ["ids", "ids_le", "packed_reply", "pool"]
    IDS_FIELD_NUMBER: _ClassVar[int]
    IDS_LE_FIELD_NUMBER: _ClassVar[int]
    PACKED_REPLY_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    ids_le: bytes
    packed_reply: bool
    pool: str
    def __init__(self, pool: _Optional[str] = ..., ids: _Optional[_Iterable[int]] = ..., ids_le: _Optional[bytes] = ..., packed_reply: bool = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ["alpha", "alpha_le", "beta", "beta_le", "dps_predicted", "greso_easy_run", "greso_hard_run", "ids", "ids_le", "known", "last_mean"]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    ALPHA_LE_FIELD_NUMBER: _ClassVar[int]
    BETA_FIELD_NUMBER: _ClassVar[int]
    BETA_LE_FIELD_NUMBER: _ClassVar[int]
    DPS_PREDICTED_FIELD_NUMBER: _ClassVar[int]
    GRESO_EASY_RUN_FIELD_NUMBER: _ClassVar[int]
    GRESO_HARD_RUN_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    IDS_LE_FIELD_NUMBER: _ClassVar[int]
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    LAST_MEAN_FIELD_NUMBER: _ClassVar[int]
    alpha: _containers.RepeatedScalarFieldContainer[float]
    alpha_le: bytes
    beta: _containers.RepeatedScalarFieldContainer[float]
    beta_le: bytes
    dps_predicted: _containers.RepeatedScalarFieldContainer[float]
    greso_easy_run: _containers.RepeatedScalarFieldContainer[int]
    greso_hard_run: _containers.RepeatedScalarFieldContainer[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    ids_le: bytes
    known: _containers.RepeatedScalarFieldContainer[bool]
    last_mean: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, ids: _Optional[_Iterable[int]] = ..., ids_le: _Optional[bytes] = ..., alpha: _Optional[_Iterable[float]] = ..., alpha_le: _Optional[bytes] = ..., beta: _Optional[_Iterable[float]] = ..., beta_le: _Optional[bytes] = ..., known: _Optional[_Iterable[bool]] = ..., dps_predicted: _Optional[_Iterable[float]] = ..., greso_easy_run: _Optional[_Iterable[int]] = ..., greso_hard_run: _Optional[_Iterable[int]] = ..., last_mean: _Optional[_Iterable[float]] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ["kernel", "status", "version"]
    KERNEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    kernel: str
    status: str
    version: str
    def __init__(self, status: _Optional[str] = ..., version: _Optional[str] = ..., kernel: _Optional[str] = ...) -> None: ...

class ImportRequest(_message.Message):
    __slots__ = ["alpha", "alpha_le", "beta", "beta_le", "ids", "ids_le", "names", "pool"]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    ALPHA_LE_FIELD_NUMBER: _ClassVar[int]
    BETA_FIELD_NUMBER: _ClassVar[int]
    BETA_LE_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    IDS_LE_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    alpha: _containers.RepeatedScalarFieldContainer[float]
    alpha_le: bytes
    beta: _containers.RepeatedScalarFieldContainer[float]
    beta_le: bytes
    ids: _containers.RepeatedScalarFieldContainer[int]
    ids_le: bytes
    names: _containers.RepeatedScalarFieldContainer[str]
    pool: str
    def __init__(self, pool: _Optional[str] = ..., ids: _Optional[_Iterable[int]] = ..., ids_le: _Optional[bytes] = ..., alpha: _Optional[_Iterable[float]] = ..., alpha_le: _Optional[bytes] = ..., beta: _Optional[_Iterable[float]] = ..., beta_le: _Optional[bytes] = ..., names: _Optional[_Iterable[str]] = ...) -> None: ...

class ImportResponse(_message.Message):
    __slots__ = ["imported", "prompt_count"]
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    PROMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    imported: int
    prompt_count: int
    def __init__(self, imported: _Optional[int] = ..., prompt_count: _Optional[int] = ...) -> None: ...

class ListPoolsRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListPoolsResponse(_message.Message):
    __slots__ = ["pools"]
    POOLS_FIELD_NUMBER: _ClassVar[int]
    pools: _containers.RepeatedCompositeFieldContainer[PoolInfo]
    def __init__(self, pools: _Optional[_Iterable[_Union[PoolInfo, _Mapping]]] = ...) -> None: ...

class ListSnapshotsRequest(_message.Message):
    __slots__ = ["pool"]
    POOL_FIELD_NUMBER: _ClassVar[int]
    pool: str
    def __init__(self, pool: _Optional[str] = ...) -> None: ...

class ListSnapshotsResponse(_message.Message):
    __slots__ = ["snapshots"]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    snapshots: _containers.RepeatedCompositeFieldContainer[SnapshotInfo]
    def __init__(self, snapshots: _Optional[_Iterable[_Union[SnapshotInfo, _Mapping]]] = ...) -> None: ...

class MethodStats(_message.Message):
    __slots__ = ["count", "errors", "errors_by_code", "max_us", "method", "p50_us", "p90_us", "p999_us", "p99_us", "sum_us", "timed"]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ERRORS_BY_CODE_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    MAX_US_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    P50_US_FIELD_NUMBER: _ClassVar[int]
    P90_US_FIELD_NUMBER: _ClassVar[int]
    P999_US_FIELD_NUMBER: _ClassVar[int]
    P99_US_FIELD_NUMBER: _ClassVar[int]
    SUM_US_FIELD_NUMBER: _ClassVar[int]
    TIMED_FIELD_NUMBER: _ClassVar[int]
    count: int
    errors: int
    errors_by_code: _containers.RepeatedCompositeFieldContainer[CodeCount]
    max_us: float
    method: str
    p50_us: float
    p90_us: float
    p999_us: float
    p99_us: float
    sum_us: float
    timed: int
    def __init__(self, method: _Optional[str] = ..., count: _Optional[int] = ..., errors: _Optional[int] = ..., errors_by_code: _Optional[_Iterable[_Union[CodeCount, _Mapping]]] = ..., p50_us: _Optional[float] = ..., p90_us: _Optional[float] = ..., p99_us: _Optional[float] = ..., p999_us: _Optional[float] = ..., max_us: _Optional[float] = ..., sum_us: _Optional[float] = ..., timed: _Optional[int] = ...) -> None: ...

class PoolConfig(_message.Message):
    __slots__ = ["band_high", "band_low", "decay", "dps", "greso", "pools", "prior_alpha", "prior_beta", "seed", "strategy", "strict_ids", "target"]
    BAND_HIGH_FIELD_NUMBER: _ClassVar[int]
    BAND_LOW_FIELD_NUMBER: _ClassVar[int]
    DECAY_FIELD_NUMBER: _ClassVar[int]
    DPS_FIELD_NUMBER: _ClassVar[int]
    GRESO_FIELD_NUMBER: _ClassVar[int]
    POOLS_FIELD_NUMBER: _ClassVar[int]
    PRIOR_ALPHA_FIELD_NUMBER: _ClassVar[int]
    PRIOR_BETA_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    STRICT_IDS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    band_high: float
    band_low: float
    decay: float
    dps: DPSConfig
    greso: GRESOConfig
    pools: PoolsConfig
    prior_alpha: float
    prior_beta: float
    seed: int
    strategy: Strategy
    strict_ids: bool
    target: float
    def __init__(self, prior_alpha: _Optional[float] = ..., prior_beta: _Optional[float] = ..., decay: _Optional[float] = ..., target: _Optional[float] = ..., strategy: _Optional[_Union[Strategy, str]] = ..., band_low: _Optional[float] = ..., band_high: _Optional[float] = ..., seed: _Optional[int] = ..., strict_ids: bool = ..., dps: _Optional[_Union[DPSConfig, _Mapping]] = ..., greso: _Optional[_Union[GRESOConfig, _Mapping]] = ..., pools: _Optional[_Union[PoolsConfig, _Mapping]] = ...) -> None: ...

class PoolInfo(_message.Message):
    __slots__ = ["config", "metrics", "name", "prompt_count", "select_count", "state", "update_count"]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SELECT_COUNT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    config: PoolConfig
    metrics: PoolMetrics
    name: str
    prompt_count: int
    select_count: int
    state: StrategyState
    update_count: int
    def __init__(self, name: _Optional[str] = ..., config: _Optional[_Union[PoolConfig, _Mapping]] = ..., prompt_count: _Optional[int] = ..., select_count: _Optional[int] = ..., update_count: _Optional[int] = ..., state: _Optional[_Union[StrategyState, _Mapping]] = ..., metrics: _Optional[_Union[PoolMetrics, _Mapping]] = ...) -> None: ...

class PoolMetrics(_message.Message):
    __slots__ = ["last_select_batch", "last_select_mean_sample", "mean_histogram", "mean_sum", "prompts_with_data", "recent_updates"]
    LAST_SELECT_BATCH_FIELD_NUMBER: _ClassVar[int]
    LAST_SELECT_MEAN_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    MEAN_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    MEAN_SUM_FIELD_NUMBER: _ClassVar[int]
    PROMPTS_WITH_DATA_FIELD_NUMBER: _ClassVar[int]
    RECENT_UPDATES_FIELD_NUMBER: _ClassVar[int]
    last_select_batch: int
    last_select_mean_sample: float
    mean_histogram: _containers.RepeatedScalarFieldContainer[int]
    mean_sum: float
    prompts_with_data: int
    recent_updates: _containers.RepeatedCompositeFieldContainer[UpdateFigures]
    def __init__(self, prompts_with_data: _Optional[int] = ..., mean_histogram: _Optional[_Iterable[int]] = ..., mean_sum: _Optional[float] = ..., last_select_batch: _Optional[int] = ..., last_select_mean_sample: _Optional[float] = ..., recent_updates: _Optional[_Iterable[_Union[UpdateFigures, _Mapping]]] = ...) -> None: ...

class PoolsConfig(_message.Message):
    __slots__ = ["easy_min", "hard_max", "weight_easy", "weight_hard", "weight_normal", "weight_unseen"]
    EASY_MIN_FIELD_NUMBER: _ClassVar[int]
    HARD_MAX_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_EASY_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_HARD_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_NORMAL_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_UNSEEN_FIELD_NUMBER: _ClassVar[int]
    easy_min: float
    hard_max: float
    weight_easy: float
    weight_hard: float
    weight_normal: float
    weight_unseen: float
    def __init__(self, hard_max: _Optional[float] = ..., easy_min: _Optional[float] = ..., weight_hard: _Optional[float] = ..., weight_normal: _Optional[float] = ..., weight_easy: _Optional[float] = ..., weight_unseen: _Optional[float] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ["ids", "ids_le", "pool", "prior_alpha", "prior_beta"]
    IDS_FIELD_NUMBER: _ClassVar[int]
    IDS_LE_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    PRIOR_ALPHA_FIELD_NUMBER: _ClassVar[int]
    PRIOR_BETA_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    ids_le: bytes
    pool: str
    prior_alpha: _containers.RepeatedScalarFieldContainer[float]
    prior_beta: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, pool: _Optional[str] = ..., ids: _Optional[_Iterable[int]] = ..., ids_le: _Optional[bytes] = ..., prior_alpha: _Optional[_Iterable[float]] = ..., prior_beta: _Optional[_Iterable[float]] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ["added", "existing", "prompt_count"]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    EXISTING_FIELD_NUMBER: _ClassVar[int]
    PROMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    added: int
    existing: int
    prompt_count: int
    def __init__(self, added: _Optional[int] = ..., existing: _Optional[int] = ..., prompt_count: _Optional[int] = ...) -> None: ...

class RestoreRequest(_message.Message):
    __slots__ = ["pool", "tag"]
    POOL_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    pool: str
    tag: str
    def __init__(self, pool: _Optional[str] = ..., tag: _Optional[str] = ...) -> None: ...

class RestoreResponse(_message.Message):
    __slots__ = ["pool"]
    POOL_FIELD_NUMBER: _ClassVar[int]
    pool: PoolInfo
    def __init__(self, pool: _Optional[_Union[PoolInfo, _Mapping]] = ...) -> None: ...

class SelectEvent(_message.Message):
    __slots__ = ["candidate_count", "ids", "pool", "samples", "select_index", "strategy"]
    CANDIDATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SELECT_INDEX_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    candidate_count: int
    ids: _containers.RepeatedScalarFieldContainer[int]
    pool: str
    samples: _containers.RepeatedScalarFieldContainer[float]
    select_index: int
    strategy: Strategy
    def __init__(self, pool: _Optional[str] = ..., select_index: _Optional[int] = ..., ids: _Optional[_Iterable[int]] = ..., samples: _Optional[_Iterable[float]] = ..., candidate_count: _Optional[int] = ..., strategy: _Optional[_Union[Strategy, str]] = ...) -> None: ...

class SelectRequest(_message.Message):
    __slots__ = ["batch_size", "candidate_count", "candidates", "candidates_le", "packed_reply", "pool", "request_id", "return_all_samples", "return_means", "strategy"]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_LE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    PACKED_REPLY_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RETURN_ALL_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    RETURN_MEANS_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    batch_size: int
    candidate_count: int
    candidates: _containers.RepeatedScalarFieldContainer[int]
    candidates_le: bytes
    packed_reply: bool
    pool: str
    request_id: str
    return_all_samples: bool
    return_means: bool
    strategy: Strategy
    def __init__(self, pool: _Optional[str] = ..., batch_size: _Optional[int] = ..., candidates: _Optional[_Iterable[int]] = ..., candidates_le: _Optional[bytes] = ..., candidate_count: _Optional[int] = ..., strategy: _Optional[_Union[Strategy, str]] = ..., return_means: bool = ..., return_all_samples: bool = ..., packed_reply: bool = ..., request_id: _Optional[str] = ...) -> None: ...

class SelectResponse(_message.Message):
    __slots__ = ["candidate_ids", "candidate_ids_le", "candidate_samples", "candidate_samples_le", "ids", "ids_le", "means", "means_le", "samples", "samples_le", "select_index"]
    CANDIDATE_IDS_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_IDS_LE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_SAMPLES_LE_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    IDS_LE_FIELD_NUMBER: _ClassVar[int]
    MEANS_FIELD_NUMBER: _ClassVar[int]
    MEANS_LE_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_LE_FIELD_NUMBER: _ClassVar[int]
    SELECT_INDEX_FIELD_NUMBER: _ClassVar[int]
    candidate_ids: _containers.RepeatedScalarFieldContainer[int]
    candidate_ids_le: bytes
    candidate_samples: _containers.RepeatedScalarFieldContainer[float]
    candidate_samples_le: bytes
    ids: _containers.RepeatedScalarFieldContainer[int]
    ids_le: bytes
    means: _containers.RepeatedScalarFieldContainer[float]
    means_le: bytes
    samples: _containers.RepeatedScalarFieldContainer[float]
    samples_le: bytes
    select_index: int
    def __init__(self, ids: _Optional[_Iterable[int]] = ..., ids_le: _Optional[bytes] = ..., samples: _Optional[_Iterable[float]] = ..., samples_le: _Optional[bytes] = ..., means: _Optional[_Iterable[float]] = ..., means_le: _Optional[bytes] = ..., candidate_ids: _Optional[_Iterable[int]] = ..., candidate_ids_le: _Optional[bytes] = ..., candidate_samples: _Optional[_Iterable[float]] = ..., candidate_samples_le: _Optional[bytes] = ..., select_index: _Optional[int] = ...) -> None: ...

class SnapshotInfo(_message.Message):
    __slots__ = ["bytes", "created_unix", "lsn", "pool", "prompt_count", "tag"]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_FIELD_NUMBER: _ClassVar[int]
    LSN_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    bytes: int
    created_unix: float
    lsn: int
    pool: str
    prompt_count: int
    tag: str
    def __init__(self, pool: _Optional[str] = ..., tag: _Optional[str] = ..., lsn: _Optional[int] = ..., created_unix: _Optional[float] = ..., prompt_count: _Optional[int] = ..., bytes: _Optional[int] = ...) -> None: ...

class SnapshotRequest(_message.Message):
    __slots__ = ["pool", "tag"]
    POOL_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    pool: str
    tag: str
    def __init__(self, pool: _Optional[str] = ..., tag: _Optional[str] = ...) -> None: ...

class SnapshotResponse(_message.Message):
    __slots__ = ["snapshot"]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    snapshot: SnapshotInfo
    def __init__(self, snapshot: _Optional[_Union[SnapshotInfo, _Mapping]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ["cpu", "kernel", "methods", "pool_bytes", "pools", "requests", "resident_bytes", "store", "uptime_seconds"]
    CPU_FIELD_NUMBER: _ClassVar[int]
    KERNEL_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    POOLS_FIELD_NUMBER: _ClassVar[int]
    POOL_BYTES_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_BYTES_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    cpu: str
    kernel: str
    methods: _containers.RepeatedCompositeFieldContainer[MethodStats]
    pool_bytes: int
    pools: _containers.RepeatedCompositeFieldContainer[PoolInfo]
    requests: int
    resident_bytes: int
    store: StoreMetrics
    uptime_seconds: float
    def __init__(self, uptime_seconds: _Optional[float] = ..., requests: _Optional[int] = ..., methods: _Optional[_Iterable[_Union[MethodStats, _Mapping]]] = ..., pools: _Optional[_Iterable[_Union[PoolInfo, _Mapping]]] = ..., resident_bytes: _Optional[int] = ..., pool_bytes: _Optional[int] = ..., kernel: _Optional[str] = ..., cpu: _Optional[str] = ..., store: _Optional[_Union[StoreMetrics, _Mapping]] = ...) -> None: ...

class Status(_message.Message):
    __slots__ = ["code", "message"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: Code
    message: str
    def __init__(self, code: _Optional[_Union[Code, str]] = ..., message: _Optional[str] = ...) -> None: ...

class StoreMetrics(_message.Message):
    __slots__ = ["fsync_bucket_seconds", "fsync_buckets", "fsync_seconds_sum", "fsyncs", "last_snapshot_bytes", "last_snapshot_seconds", "last_snapshot_unix", "persistent", "snapshots_written", "wal_bytes"]
    FSYNCS_FIELD_NUMBER: _ClassVar[int]
    FSYNC_BUCKETS_FIELD_NUMBER: _ClassVar[int]
    FSYNC_BUCKET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FSYNC_SECONDS_SUM_FIELD_NUMBER: _ClassVar[int]
    LAST_SNAPSHOT_BYTES_FIELD_NUMBER: _ClassVar[int]
    LAST_SNAPSHOT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LAST_SNAPSHOT_UNIX_FIELD_NUMBER: _ClassVar[int]
    PERSISTENT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    WAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    fsync_bucket_seconds: _containers.RepeatedScalarFieldContainer[float]
    fsync_buckets: _containers.RepeatedScalarFieldContainer[int]
    fsync_seconds_sum: float
    fsyncs: int
    last_snapshot_bytes: int
    last_snapshot_seconds: float
    last_snapshot_unix: float
    persistent: bool
    snapshots_written: int
    wal_bytes: int
    def __init__(self, persistent: bool = ..., wal_bytes: _Optional[int] = ..., fsyncs: _Optional[int] = ..., fsync_seconds_sum: _Optional[float] = ..., fsync_buckets: _Optional[_Iterable[int]] = ..., fsync_bucket_seconds: _Optional[_Iterable[float]] = ..., snapshots_written: _Optional[int] = ..., last_snapshot_unix: _Optional[float] = ..., last_snapshot_bytes: _Optional[int] = ..., last_snapshot_seconds: _Optional[float] = ...) -> None: ...

class StrategyState(_message.Message):
    __slots__ = ["bytes_per_prompt", "greso_p_easy", "greso_p_hard", "steps"]
    BYTES_PER_PROMPT_FIELD_NUMBER: _ClassVar[int]
    GRESO_P_EASY_FIELD_NUMBER: _ClassVar[int]
    GRESO_P_HARD_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    bytes_per_prompt: float
    greso_p_easy: float
    greso_p_hard: float
    steps: int
    def __init__(self, steps: _Optional[int] = ..., greso_p_easy: _Optional[float] = ..., greso_p_hard: _Optional[float] = ..., bytes_per_prompt: _Optional[float] = ...) -> None: ...

class UpdateEvent(_message.Message):
    __slots__ = ["alpha", "beta", "ids", "pool", "request_id", "update_index"]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    BETA_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_INDEX_FIELD_NUMBER: _ClassVar[int]
    alpha: _containers.RepeatedScalarFieldContainer[float]
    beta: _containers.RepeatedScalarFieldContainer[float]
    ids: _containers.RepeatedScalarFieldContainer[int]
    pool: str
    request_id: str
    update_index: int
    def __init__(self, pool: _Optional[str] = ..., update_index: _Optional[int] = ..., ids: _Optional[_Iterable[int]] = ..., alpha: _Optional[_Iterable[float]] = ..., beta: _Optional[_Iterable[float]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateFigures(_message.Message):
    __slots__ = ["all_failed", "all_solved", "predicted", "prompts", "realised", "update_index"]
    ALL_FAILED_FIELD_NUMBER: _ClassVar[int]
    ALL_SOLVED_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_FIELD_NUMBER: _ClassVar[int]
    PROMPTS_FIELD_NUMBER: _ClassVar[int]
    REALISED_FIELD_NUMBER: _ClassVar[int]
    UPDATE_INDEX_FIELD_NUMBER: _ClassVar[int]
    all_failed: float
    all_solved: float
    predicted: float
    prompts: int
    realised: float
    update_index: int
    def __init__(self, update_index: _Optional[int] = ..., prompts: _Optional[int] = ..., predicted: _Optional[float] = ..., realised: _Optional[float] = ..., all_solved: _Optional[float] = ..., all_failed: _Optional[float] = ...) -> None: ...

class UpdateRequest(_message.Message):
    __slots__ = ["ids", "ids_le", "pool", "request_id", "rollouts", "step", "successes", "successes_le", "trials", "trials_le"]
    IDS_FIELD_NUMBER: _ClassVar[int]
    IDS_LE_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ROLLOUTS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    SUCCESSES_FIELD_NUMBER: _ClassVar[int]
    SUCCESSES_LE_FIELD_NUMBER: _ClassVar[int]
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    TRIALS_LE_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    ids_le: bytes
    pool: str
    request_id: str
    rollouts: int
    step: int
    successes: _containers.RepeatedScalarFieldContainer[float]
    successes_le: bytes
    trials: _containers.RepeatedScalarFieldContainer[int]
    trials_le: bytes
    def __init__(self, pool: _Optional[str] = ..., ids: _Optional[_Iterable[int]] = ..., ids_le: _Optional[bytes] = ..., successes: _Optional[_Iterable[float]] = ..., successes_le: _Optional[bytes] = ..., trials: _Optional[_Iterable[int]] = ..., trials_le: _Optional[bytes] = ..., rollouts: _Optional[int] = ..., request_id: _Optional[str] = ..., step: _Optional[int] = ...) -> None: ...

class UpdateResponse(_message.Message):
    __slots__ = ["duplicate", "updated"]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    updated: int
    def __init__(self, updated: _Optional[int] = ..., duplicate: bool = ...) -> None: ...

class Code(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Strategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
