from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Goal(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GOAL_UNSPECIFIED: _ClassVar[Goal]
    MAXIMIZE: _ClassVar[Goal]
    MINIMIZE: _ClassVar[Goal]

class TrialState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIAL_STATE_UNSPECIFIED: _ClassVar[TrialState]
    PENDING: _ClassVar[TrialState]
    COMPLETED: _ClassVar[TrialState]
    FAILED: _ClassVar[TrialState]
    INFEASIBLE: _ClassVar[TrialState]
    STALE: _ClassVar[TrialState]
    STOPPED: _ClassVar[TrialState]
    QUEUED: _ClassVar[TrialState]
GOAL_UNSPECIFIED: Goal
MAXIMIZE: Goal
MINIMIZE: Goal
TRIAL_STATE_UNSPECIFIED: TrialState
PENDING: TrialState
COMPLETED: TrialState
FAILED: TrialState
INFEASIBLE: TrialState
STALE: TrialState
STOPPED: TrialState
QUEUED: TrialState

class Condition(_message.Message):
    __slots__ = ("param", "op", "value")
    PARAM_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    param: str
    op: str
    value: _struct_pb2.Value
    def __init__(self, param: _Optional[str] = ..., op: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class Param(_message.Message):
    __slots__ = ("name", "type", "low", "high", "log", "step", "choices", "condition")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    low: float
    high: float
    log: bool
    step: float
    choices: _containers.RepeatedScalarFieldContainer[str]
    condition: Condition
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., low: _Optional[float] = ..., high: _Optional[float] = ..., log: bool = ..., step: _Optional[float] = ..., choices: _Optional[_Iterable[str]] = ..., condition: _Optional[_Union[Condition, _Mapping]] = ...) -> None: ...

class LinearConstraint(_message.Message):
    __slots__ = ("coefficients", "op", "bound")
    class CoefficientsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    COEFFICIENTS_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    coefficients: _containers.ScalarMap[str, float]
    op: str
    bound: float
    def __init__(self, coefficients: _Optional[_Mapping[str, float]] = ..., op: _Optional[str] = ..., bound: _Optional[float] = ...) -> None: ...

class UserSpace(_message.Message):
    __slots__ = ("params", "constraints")
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINTS_FIELD_NUMBER: _ClassVar[int]
    params: _containers.RepeatedCompositeFieldContainer[Param]
    constraints: _containers.RepeatedCompositeFieldContainer[LinearConstraint]
    def __init__(self, params: _Optional[_Iterable[_Union[Param, _Mapping]]] = ..., constraints: _Optional[_Iterable[_Union[LinearConstraint, _Mapping]]] = ...) -> None: ...

class SpaceSpec(_message.Message):
    __slots__ = ("builtin", "user")
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    builtin: str
    user: UserSpace
    def __init__(self, builtin: _Optional[str] = ..., user: _Optional[_Union[UserSpace, _Mapping]] = ...) -> None: ...

class StudyConfig(_message.Message):
    __slots__ = ("space", "strategy", "strategy_options", "goal", "seed", "stopping", "objectives", "metric_constraints", "max_retries")
    SPACE_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STOPPING_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVES_FIELD_NUMBER: _ClassVar[int]
    METRIC_CONSTRAINTS_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    space: SpaceSpec
    strategy: str
    strategy_options: _struct_pb2.Struct
    goal: Goal
    seed: int
    stopping: Stopping
    objectives: _containers.RepeatedCompositeFieldContainer[Objective]
    metric_constraints: _containers.RepeatedCompositeFieldContainer[MetricConstraint]
    max_retries: int
    def __init__(self, space: _Optional[_Union[SpaceSpec, _Mapping]] = ..., strategy: _Optional[str] = ..., strategy_options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., goal: _Optional[_Union[Goal, str]] = ..., seed: _Optional[int] = ..., stopping: _Optional[_Union[Stopping, _Mapping]] = ..., objectives: _Optional[_Iterable[_Union[Objective, _Mapping]]] = ..., metric_constraints: _Optional[_Iterable[_Union[MetricConstraint, _Mapping]]] = ..., max_retries: _Optional[int] = ...) -> None: ...

class Objective(_message.Message):
    __slots__ = ("name", "goal")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    goal: Goal
    def __init__(self, name: _Optional[str] = ..., goal: _Optional[_Union[Goal, str]] = ...) -> None: ...

class MetricConstraint(_message.Message):
    __slots__ = ("name", "op", "bound")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    name: str
    op: str
    bound: float
    def __init__(self, name: _Optional[str] = ..., op: _Optional[str] = ..., bound: _Optional[float] = ...) -> None: ...

class Stopping(_message.Message):
    __slots__ = ("rule", "options")
    RULE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    rule: str
    options: _struct_pb2.Struct
    def __init__(self, rule: _Optional[str] = ..., options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Study(_message.Message):
    __slots__ = ("name", "config", "created_at", "trial_count", "completed_count", "pending_count", "namespace")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TRIAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    PENDING_COUNT_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    name: str
    config: StudyConfig
    created_at: float
    trial_count: int
    completed_count: int
    pending_count: int
    namespace: str
    def __init__(self, name: _Optional[str] = ..., config: _Optional[_Union[StudyConfig, _Mapping]] = ..., created_at: _Optional[float] = ..., trial_count: _Optional[int] = ..., completed_count: _Optional[int] = ..., pending_count: _Optional[int] = ..., namespace: _Optional[str] = ...) -> None: ...

class ParamValue(_message.Message):
    __slots__ = ("string_value", "int_value", "float_value", "bool_value")
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    FLOAT_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    string_value: str
    int_value: int
    float_value: float
    bool_value: bool
    def __init__(self, string_value: _Optional[str] = ..., int_value: _Optional[int] = ..., float_value: _Optional[float] = ..., bool_value: bool = ...) -> None: ...

class Architecture(_message.Message):
    __slots__ = ("text", "params")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ParamValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ParamValue, _Mapping]] = ...) -> None: ...
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    text: str
    params: _containers.MessageMap[str, ParamValue]
    def __init__(self, text: _Optional[str] = ..., params: _Optional[_Mapping[str, ParamValue]] = ...) -> None: ...

class Trial(_message.Message):
    __slots__ = ("id", "study", "number", "state", "architecture", "arch_hash", "value", "predicted_value", "region", "client_id", "checkpoint_uri", "metadata", "created_at", "finished_at", "lease_expires_at", "warm_start", "objective_values")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ObjectiveValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    STUDY_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    ARCH_HASH_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_VALUE_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_URI_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    WARM_START_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_VALUES_FIELD_NUMBER: _ClassVar[int]
    id: int
    study: str
    number: int
    state: TrialState
    architecture: Architecture
    arch_hash: str
    value: float
    predicted_value: float
    region: str
    client_id: str
    checkpoint_uri: str
    metadata: _containers.ScalarMap[str, str]
    created_at: float
    finished_at: float
    lease_expires_at: float
    warm_start: WarmStart
    objective_values: _containers.ScalarMap[str, float]
    def __init__(self, id: _Optional[int] = ..., study: _Optional[str] = ..., number: _Optional[int] = ..., state: _Optional[_Union[TrialState, str]] = ..., architecture: _Optional[_Union[Architecture, _Mapping]] = ..., arch_hash: _Optional[str] = ..., value: _Optional[float] = ..., predicted_value: _Optional[float] = ..., region: _Optional[str] = ..., client_id: _Optional[str] = ..., checkpoint_uri: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., created_at: _Optional[float] = ..., finished_at: _Optional[float] = ..., lease_expires_at: _Optional[float] = ..., warm_start: _Optional[_Union[WarmStart, _Mapping]] = ..., objective_values: _Optional[_Mapping[str, float]] = ...) -> None: ...

class WarmStart(_message.Message):
    __slots__ = ("trial_id", "architecture", "distance", "checkpoint_uri", "value")
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_URI_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    trial_id: int
    architecture: str
    distance: int
    checkpoint_uri: str
    value: float
    def __init__(self, trial_id: _Optional[int] = ..., architecture: _Optional[str] = ..., distance: _Optional[int] = ..., checkpoint_uri: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class CreateStudyRequest(_message.Message):
    __slots__ = ("name", "config", "seed_from")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    SEED_FROM_FIELD_NUMBER: _ClassVar[int]
    name: str
    config: StudyConfig
    seed_from: str
    def __init__(self, name: _Optional[str] = ..., config: _Optional[_Union[StudyConfig, _Mapping]] = ..., seed_from: _Optional[str] = ...) -> None: ...

class CreateStudyResponse(_message.Message):
    __slots__ = ("study", "created")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    study: Study
    created: bool
    def __init__(self, study: _Optional[_Union[Study, _Mapping]] = ..., created: bool = ...) -> None: ...

class GetStudyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetStudyResponse(_message.Message):
    __slots__ = ("study",)
    STUDY_FIELD_NUMBER: _ClassVar[int]
    study: Study
    def __init__(self, study: _Optional[_Union[Study, _Mapping]] = ...) -> None: ...

class ListStudiesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListStudiesResponse(_message.Message):
    __slots__ = ("studies", "next_page_token")
    STUDIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    studies: _containers.RepeatedCompositeFieldContainer[Study]
    next_page_token: str
    def __init__(self, studies: _Optional[_Iterable[_Union[Study, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteStudyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteStudyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProposeRequest(_message.Message):
    __slots__ = ("study", "count", "client_id", "request_id")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    study: str
    count: int
    client_id: str
    request_id: str
    def __init__(self, study: _Optional[str] = ..., count: _Optional[int] = ..., client_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ProposeResponse(_message.Message):
    __slots__ = ("trials",)
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[Trial]
    def __init__(self, trials: _Optional[_Iterable[_Union[Trial, _Mapping]]] = ...) -> None: ...

class Failure(_message.Message):
    __slots__ = ("reason", "retryable")
    REASON_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    reason: str
    retryable: bool
    def __init__(self, reason: _Optional[str] = ..., retryable: bool = ...) -> None: ...

class Infeasible(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class Stopped(_message.Message):
    __slots__ = ("reason", "value")
    REASON_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    reason: str
    value: float
    def __init__(self, reason: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class ReportRequest(_message.Message):
    __slots__ = ("study", "trial_id", "value", "failed", "infeasible", "stopped", "checkpoint_uri", "metadata", "objective_values")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ObjectiveValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STUDY_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    INFEASIBLE_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_URI_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_VALUES_FIELD_NUMBER: _ClassVar[int]
    study: str
    trial_id: int
    value: float
    failed: Failure
    infeasible: Infeasible
    stopped: Stopped
    checkpoint_uri: str
    metadata: _containers.ScalarMap[str, str]
    objective_values: _containers.ScalarMap[str, float]
    def __init__(self, study: _Optional[str] = ..., trial_id: _Optional[int] = ..., value: _Optional[float] = ..., failed: _Optional[_Union[Failure, _Mapping]] = ..., infeasible: _Optional[_Union[Infeasible, _Mapping]] = ..., stopped: _Optional[_Union[Stopped, _Mapping]] = ..., checkpoint_uri: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., objective_values: _Optional[_Mapping[str, float]] = ...) -> None: ...

class ReportResponse(_message.Message):
    __slots__ = ("trial",)
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    trial: Trial
    def __init__(self, trial: _Optional[_Union[Trial, _Mapping]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("study", "trial_id")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    study: str
    trial_id: int
    def __init__(self, study: _Optional[str] = ..., trial_id: _Optional[int] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("trial", "lease_seconds")
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    trial: Trial
    lease_seconds: float
    def __init__(self, trial: _Optional[_Union[Trial, _Mapping]] = ..., lease_seconds: _Optional[float] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("study", "trial_id")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    study: str
    trial_id: int
    def __init__(self, study: _Optional[str] = ..., trial_id: _Optional[int] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("trial",)
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    trial: Trial
    def __init__(self, trial: _Optional[_Union[Trial, _Mapping]] = ...) -> None: ...

class ReportIntermediateRequest(_message.Message):
    __slots__ = ("study", "trial_id", "step", "value")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    study: str
    trial_id: int
    step: int
    value: float
    def __init__(self, study: _Optional[str] = ..., trial_id: _Optional[int] = ..., step: _Optional[int] = ..., value: _Optional[float] = ...) -> None: ...

class ReportIntermediateResponse(_message.Message):
    __slots__ = ("should_stop", "reason", "trial")
    SHOULD_STOP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    should_stop: bool
    reason: str
    trial: Trial
    def __init__(self, should_stop: bool = ..., reason: _Optional[str] = ..., trial: _Optional[_Union[Trial, _Mapping]] = ...) -> None: ...

class EnqueueRequest(_message.Message):
    __slots__ = ("study", "architectures")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURES_FIELD_NUMBER: _ClassVar[int]
    study: str
    architectures: _containers.RepeatedCompositeFieldContainer[Architecture]
    def __init__(self, study: _Optional[str] = ..., architectures: _Optional[_Iterable[_Union[Architecture, _Mapping]]] = ...) -> None: ...

class EnqueueSkipped(_message.Message):
    __slots__ = ("index", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    reason: str
    def __init__(self, index: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class EnqueueResponse(_message.Message):
    __slots__ = ("trials", "skipped")
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[Trial]
    skipped: _containers.RepeatedCompositeFieldContainer[EnqueueSkipped]
    def __init__(self, trials: _Optional[_Iterable[_Union[Trial, _Mapping]]] = ..., skipped: _Optional[_Iterable[_Union[EnqueueSkipped, _Mapping]]] = ...) -> None: ...

class ShouldStopRequest(_message.Message):
    __slots__ = ("study", "trial_id")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    study: str
    trial_id: int
    def __init__(self, study: _Optional[str] = ..., trial_id: _Optional[int] = ...) -> None: ...

class ShouldStopResponse(_message.Message):
    __slots__ = ("should_stop", "reason")
    SHOULD_STOP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    should_stop: bool
    reason: str
    def __init__(self, should_stop: bool = ..., reason: _Optional[str] = ...) -> None: ...

class IntermediateValue(_message.Message):
    __slots__ = ("step", "value")
    STEP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    step: int
    value: float
    def __init__(self, step: _Optional[int] = ..., value: _Optional[float] = ...) -> None: ...

class ListIntermediateValuesRequest(_message.Message):
    __slots__ = ("study", "trial_id")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    study: str
    trial_id: int
    def __init__(self, study: _Optional[str] = ..., trial_id: _Optional[int] = ...) -> None: ...

class ListIntermediateValuesResponse(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[IntermediateValue]
    def __init__(self, values: _Optional[_Iterable[_Union[IntermediateValue, _Mapping]]] = ...) -> None: ...

class ReportAndProposeRequest(_message.Message):
    __slots__ = ("report", "propose")
    REPORT_FIELD_NUMBER: _ClassVar[int]
    PROPOSE_FIELD_NUMBER: _ClassVar[int]
    report: ReportRequest
    propose: ProposeRequest
    def __init__(self, report: _Optional[_Union[ReportRequest, _Mapping]] = ..., propose: _Optional[_Union[ProposeRequest, _Mapping]] = ...) -> None: ...

class ReportAndProposeResponse(_message.Message):
    __slots__ = ("reported", "trials")
    REPORTED_FIELD_NUMBER: _ClassVar[int]
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    reported: Trial
    trials: _containers.RepeatedCompositeFieldContainer[Trial]
    def __init__(self, reported: _Optional[_Union[Trial, _Mapping]] = ..., trials: _Optional[_Iterable[_Union[Trial, _Mapping]]] = ...) -> None: ...

class SessionRequest(_message.Message):
    __slots__ = ("propose", "report", "heartbeat", "report_and_propose", "report_intermediate", "should_stop")
    PROPOSE_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    REPORT_AND_PROPOSE_FIELD_NUMBER: _ClassVar[int]
    REPORT_INTERMEDIATE_FIELD_NUMBER: _ClassVar[int]
    SHOULD_STOP_FIELD_NUMBER: _ClassVar[int]
    propose: ProposeRequest
    report: ReportRequest
    heartbeat: HeartbeatRequest
    report_and_propose: ReportAndProposeRequest
    report_intermediate: ReportIntermediateRequest
    should_stop: ShouldStopRequest
    def __init__(self, propose: _Optional[_Union[ProposeRequest, _Mapping]] = ..., report: _Optional[_Union[ReportRequest, _Mapping]] = ..., heartbeat: _Optional[_Union[HeartbeatRequest, _Mapping]] = ..., report_and_propose: _Optional[_Union[ReportAndProposeRequest, _Mapping]] = ..., report_intermediate: _Optional[_Union[ReportIntermediateRequest, _Mapping]] = ..., should_stop: _Optional[_Union[ShouldStopRequest, _Mapping]] = ...) -> None: ...

class SessionError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class SessionResponse(_message.Message):
    __slots__ = ("propose", "report", "heartbeat", "error", "report_and_propose", "report_intermediate", "should_stop")
    PROPOSE_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REPORT_AND_PROPOSE_FIELD_NUMBER: _ClassVar[int]
    REPORT_INTERMEDIATE_FIELD_NUMBER: _ClassVar[int]
    SHOULD_STOP_FIELD_NUMBER: _ClassVar[int]
    propose: ProposeResponse
    report: ReportResponse
    heartbeat: HeartbeatResponse
    error: SessionError
    report_and_propose: ReportAndProposeResponse
    report_intermediate: ReportIntermediateResponse
    should_stop: ShouldStopResponse
    def __init__(self, propose: _Optional[_Union[ProposeResponse, _Mapping]] = ..., report: _Optional[_Union[ReportResponse, _Mapping]] = ..., heartbeat: _Optional[_Union[HeartbeatResponse, _Mapping]] = ..., error: _Optional[_Union[SessionError, _Mapping]] = ..., report_and_propose: _Optional[_Union[ReportAndProposeResponse, _Mapping]] = ..., report_intermediate: _Optional[_Union[ReportIntermediateResponse, _Mapping]] = ..., should_stop: _Optional[_Union[ShouldStopResponse, _Mapping]] = ...) -> None: ...

class TellRequest(_message.Message):
    __slots__ = ("study", "architecture", "value", "failed", "infeasible", "checkpoint_uri", "metadata", "objective_values")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ObjectiveValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STUDY_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    INFEASIBLE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_URI_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_VALUES_FIELD_NUMBER: _ClassVar[int]
    study: str
    architecture: Architecture
    value: float
    failed: Failure
    infeasible: Infeasible
    checkpoint_uri: str
    metadata: _containers.ScalarMap[str, str]
    objective_values: _containers.ScalarMap[str, float]
    def __init__(self, study: _Optional[str] = ..., architecture: _Optional[_Union[Architecture, _Mapping]] = ..., value: _Optional[float] = ..., failed: _Optional[_Union[Failure, _Mapping]] = ..., infeasible: _Optional[_Union[Infeasible, _Mapping]] = ..., checkpoint_uri: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., objective_values: _Optional[_Mapping[str, float]] = ...) -> None: ...

class TellResponse(_message.Message):
    __slots__ = ("trial",)
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    trial: Trial
    def __init__(self, trial: _Optional[_Union[Trial, _Mapping]] = ...) -> None: ...

class TellRow(_message.Message):
    __slots__ = ("architecture", "value", "failed", "infeasible", "checkpoint_uri", "metadata", "line")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    INFEASIBLE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_URI_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    architecture: Architecture
    value: float
    failed: Failure
    infeasible: Infeasible
    checkpoint_uri: str
    metadata: _containers.ScalarMap[str, str]
    line: int
    def __init__(self, architecture: _Optional[_Union[Architecture, _Mapping]] = ..., value: _Optional[float] = ..., failed: _Optional[_Union[Failure, _Mapping]] = ..., infeasible: _Optional[_Union[Infeasible, _Mapping]] = ..., checkpoint_uri: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., line: _Optional[int] = ...) -> None: ...

class TellManyRequest(_message.Message):
    __slots__ = ("study", "rows", "validate_only")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    study: str
    rows: _containers.RepeatedCompositeFieldContainer[TellRow]
    validate_only: bool
    def __init__(self, study: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[TellRow, _Mapping]]] = ..., validate_only: bool = ...) -> None: ...

class TellManyResult(_message.Message):
    __slots__ = ("line", "created", "trial", "error")
    LINE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    line: int
    created: bool
    trial: Trial
    error: str
    def __init__(self, line: _Optional[int] = ..., created: bool = ..., trial: _Optional[_Union[Trial, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class TellManyResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[TellManyResult]
    def __init__(self, results: _Optional[_Iterable[_Union[TellManyResult, _Mapping]]] = ...) -> None: ...

class ListTrialsRequest(_message.Message):
    __slots__ = ("study", "page_size", "page_token", "states")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    study: str
    page_size: int
    page_token: str
    states: _containers.RepeatedScalarFieldContainer[TrialState]
    def __init__(self, study: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., states: _Optional[_Iterable[_Union[TrialState, str]]] = ...) -> None: ...

class ListTrialsResponse(_message.Message):
    __slots__ = ("trials", "next_page_token")
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[Trial]
    next_page_token: str
    def __init__(self, trials: _Optional[_Iterable[_Union[Trial, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetBestRequest(_message.Message):
    __slots__ = ("study",)
    STUDY_FIELD_NUMBER: _ClassVar[int]
    study: str
    def __init__(self, study: _Optional[str] = ...) -> None: ...

class GetBestResponse(_message.Message):
    __slots__ = ("trial", "pareto_front")
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    PARETO_FRONT_FIELD_NUMBER: _ClassVar[int]
    trial: Trial
    pareto_front: _containers.RepeatedCompositeFieldContainer[Trial]
    def __init__(self, trial: _Optional[_Union[Trial, _Mapping]] = ..., pareto_front: _Optional[_Iterable[_Union[Trial, _Mapping]]] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("study", "architectures")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURES_FIELD_NUMBER: _ClassVar[int]
    study: str
    architectures: _containers.RepeatedCompositeFieldContainer[Architecture]
    def __init__(self, study: _Optional[str] = ..., architectures: _Optional[_Iterable[_Union[Architecture, _Mapping]]] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("values", "model_version")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    model_version: str
    def __init__(self, values: _Optional[_Iterable[float]] = ..., model_version: _Optional[str] = ...) -> None: ...
