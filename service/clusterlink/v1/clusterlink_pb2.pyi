from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OffsetFidelity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OFFSET_FIDELITY_UNSPECIFIED: _ClassVar[OffsetFidelity]
    EXACT: _ClassVar[OffsetFidelity]
    TRANSLATED: _ClassVar[OffsetFidelity]
OFFSET_FIDELITY_UNSPECIFIED: OffsetFidelity
EXACT: OffsetFidelity
TRANSLATED: OffsetFidelity

class ClusterConnection(_message.Message):
    __slots__ = ("bootstrap_servers", "security_protocol", "sasl_mechanism", "sasl_username", "sasl_password", "sasl_password_set", "ssl_ca_pem", "ssl_certificate_pem", "ssl_key_pem", "ssl_key_set")
    BOOTSTRAP_SERVERS_FIELD_NUMBER: _ClassVar[int]
    SECURITY_PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    SASL_MECHANISM_FIELD_NUMBER: _ClassVar[int]
    SASL_USERNAME_FIELD_NUMBER: _ClassVar[int]
    SASL_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    SASL_PASSWORD_SET_FIELD_NUMBER: _ClassVar[int]
    SSL_CA_PEM_FIELD_NUMBER: _ClassVar[int]
    SSL_CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    SSL_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    SSL_KEY_SET_FIELD_NUMBER: _ClassVar[int]
    bootstrap_servers: str
    security_protocol: str
    sasl_mechanism: str
    sasl_username: str
    sasl_password: str
    sasl_password_set: bool
    ssl_ca_pem: str
    ssl_certificate_pem: str
    ssl_key_pem: str
    ssl_key_set: bool
    def __init__(self, bootstrap_servers: _Optional[str] = ..., security_protocol: _Optional[str] = ..., sasl_mechanism: _Optional[str] = ..., sasl_username: _Optional[str] = ..., sasl_password: _Optional[str] = ..., sasl_password_set: bool = ..., ssl_ca_pem: _Optional[str] = ..., ssl_certificate_pem: _Optional[str] = ..., ssl_key_pem: _Optional[str] = ..., ssl_key_set: bool = ...) -> None: ...

class Link(_message.Message):
    __slots__ = ("name", "source", "destination", "config", "paused", "etag", "create_time", "update_time", "status")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    name: str
    source: ClusterConnection
    destination: ClusterConnection
    config: _containers.ScalarMap[str, str]
    paused: bool
    etag: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    status: LinkStatus
    def __init__(self, name: _Optional[str] = ..., source: _Optional[_Union[ClusterConnection, _Mapping]] = ..., destination: _Optional[_Union[ClusterConnection, _Mapping]] = ..., config: _Optional[_Mapping[str, str]] = ..., paused: bool = ..., etag: _Optional[str] = ..., create_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[LinkStatus, _Mapping]] = ...) -> None: ...

class LinkStatus(_message.Message):
    __slots__ = ("state", "tasks", "mirror_topic_count")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[LinkStatus.State]
        ACTIVE: _ClassVar[LinkStatus.State]
        PAUSED: _ClassVar[LinkStatus.State]
        DEGRADED: _ClassVar[LinkStatus.State]
    STATE_UNSPECIFIED: LinkStatus.State
    ACTIVE: LinkStatus.State
    PAUSED: LinkStatus.State
    DEGRADED: LinkStatus.State
    STATE_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    MIRROR_TOPIC_COUNT_FIELD_NUMBER: _ClassVar[int]
    state: LinkStatus.State
    tasks: _containers.RepeatedCompositeFieldContainer[LinkTask]
    mirror_topic_count: int
    def __init__(self, state: _Optional[_Union[LinkStatus.State, str]] = ..., tasks: _Optional[_Iterable[_Union[LinkTask, _Mapping]]] = ..., mirror_topic_count: _Optional[int] = ...) -> None: ...

class LinkTask(_message.Message):
    __slots__ = ("name", "state", "last_error", "last_error_time", "update_time", "error_code", "last_success_time", "message", "replica")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[LinkTask.State]
        RUNNING: _ClassVar[LinkTask.State]
        STOPPED: _ClassVar[LinkTask.State]
        ERROR: _ClassVar[LinkTask.State]
        ACTIVE: _ClassVar[LinkTask.State]
        IN_ERROR: _ClassVar[LinkTask.State]
        NOT_CONFIGURED: _ClassVar[LinkTask.State]
    STATE_UNSPECIFIED: LinkTask.State
    RUNNING: LinkTask.State
    STOPPED: LinkTask.State
    ERROR: LinkTask.State
    ACTIVE: LinkTask.State
    IN_ERROR: LinkTask.State
    NOT_CONFIGURED: LinkTask.State
    class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ERROR_CODE_UNSPECIFIED: _ClassVar[LinkTask.ErrorCode]
        AUTHENTICATION_ERROR: _ClassVar[LinkTask.ErrorCode]
        AUTHORIZATION_ERROR: _ClassVar[LinkTask.ErrorCode]
        MISCONFIGURATION_ERROR: _ClassVar[LinkTask.ErrorCode]
        SOURCE_UNAVAILABLE: _ClassVar[LinkTask.ErrorCode]
        DESTINATION_UNAVAILABLE: _ClassVar[LinkTask.ErrorCode]
        INTERNAL_ERROR: _ClassVar[LinkTask.ErrorCode]
    ERROR_CODE_UNSPECIFIED: LinkTask.ErrorCode
    AUTHENTICATION_ERROR: LinkTask.ErrorCode
    AUTHORIZATION_ERROR: LinkTask.ErrorCode
    MISCONFIGURATION_ERROR: LinkTask.ErrorCode
    SOURCE_UNAVAILABLE: LinkTask.ErrorCode
    DESTINATION_UNAVAILABLE: LinkTask.ErrorCode
    INTERNAL_ERROR: LinkTask.ErrorCode
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    LAST_SUCCESS_TIME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: LinkTask.State
    last_error: str
    last_error_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    error_code: LinkTask.ErrorCode
    last_success_time: _timestamp_pb2.Timestamp
    message: str
    replica: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[LinkTask.State, str]] = ..., last_error: _Optional[str] = ..., last_error_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., error_code: _Optional[_Union[LinkTask.ErrorCode, str]] = ..., last_success_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., message: _Optional[str] = ..., replica: _Optional[str] = ...) -> None: ...

class MirrorTopic(_message.Message):
    __slots__ = ("name", "source_topic", "state", "reason", "partitions", "max_lag", "offset_fidelity", "etag", "create_time", "update_time", "status_time", "restore")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[MirrorTopic.State]
        PENDING: _ClassVar[MirrorTopic.State]
        ACTIVE: _ClassVar[MirrorTopic.State]
        PAUSED: _ClassVar[MirrorTopic.State]
        PROMOTING: _ClassVar[MirrorTopic.State]
        PROMOTED: _ClassVar[MirrorTopic.State]
        FAILED_OVER: _ClassVar[MirrorTopic.State]
        SOURCE_UNAVAILABLE: _ClassVar[MirrorTopic.State]
        FAILED: _ClassVar[MirrorTopic.State]
        DELETING: _ClassVar[MirrorTopic.State]
    STATE_UNSPECIFIED: MirrorTopic.State
    PENDING: MirrorTopic.State
    ACTIVE: MirrorTopic.State
    PAUSED: MirrorTopic.State
    PROMOTING: MirrorTopic.State
    PROMOTED: MirrorTopic.State
    FAILED_OVER: MirrorTopic.State
    SOURCE_UNAVAILABLE: MirrorTopic.State
    FAILED: MirrorTopic.State
    DELETING: MirrorTopic.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TOPIC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_LAG_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIDELITY_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_TIME_FIELD_NUMBER: _ClassVar[int]
    RESTORE_FIELD_NUMBER: _ClassVar[int]
    name: str
    source_topic: str
    state: MirrorTopic.State
    reason: str
    partitions: _containers.RepeatedCompositeFieldContainer[PartitionStatus]
    max_lag: int
    offset_fidelity: OffsetFidelity
    etag: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    status_time: _timestamp_pb2.Timestamp
    restore: Restore
    def __init__(self, name: _Optional[str] = ..., source_topic: _Optional[str] = ..., state: _Optional[_Union[MirrorTopic.State, str]] = ..., reason: _Optional[str] = ..., partitions: _Optional[_Iterable[_Union[PartitionStatus, _Mapping]]] = ..., max_lag: _Optional[int] = ..., offset_fidelity: _Optional[_Union[OffsetFidelity, str]] = ..., etag: _Optional[str] = ..., create_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., status_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., restore: _Optional[_Union[Restore, _Mapping]] = ...) -> None: ...

class Restore(_message.Message):
    __slots__ = ("enabled", "set_aside_topic", "state", "partitions")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Restore.State]
        REQUESTED: _ClassVar[Restore.State]
        SETTING_ASIDE: _ClassVar[Restore.State]
        REPLACING: _ClassVar[Restore.State]
        DONE: _ClassVar[Restore.State]
    STATE_UNSPECIFIED: Restore.State
    REQUESTED: Restore.State
    SETTING_ASIDE: Restore.State
    REPLACING: Restore.State
    DONE: Restore.State
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    SET_ASIDE_TOPIC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    set_aside_topic: str
    state: Restore.State
    partitions: _containers.RepeatedCompositeFieldContainer[SetAside]
    def __init__(self, enabled: bool = ..., set_aside_topic: _Optional[str] = ..., state: _Optional[_Union[Restore.State, str]] = ..., partitions: _Optional[_Iterable[_Union[SetAside, _Mapping]]] = ...) -> None: ...

class SetAside(_message.Message):
    __slots__ = ("partition", "divergence_offset", "end_offset", "records", "side_start_offset")
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    DIVERGENCE_OFFSET_FIELD_NUMBER: _ClassVar[int]
    END_OFFSET_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    SIDE_START_OFFSET_FIELD_NUMBER: _ClassVar[int]
    partition: int
    divergence_offset: int
    end_offset: int
    records: int
    side_start_offset: int
    def __init__(self, partition: _Optional[int] = ..., divergence_offset: _Optional[int] = ..., end_offset: _Optional[int] = ..., records: _Optional[int] = ..., side_start_offset: _Optional[int] = ...) -> None: ...

class PartitionStatus(_message.Message):
    __slots__ = ("partition", "source_log_start_offset", "source_end_offset", "mirror_end_offset", "lag", "offset_fidelity", "mirrored_source_offset", "reencoded_batches", "replica")
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LOG_START_OFFSET_FIELD_NUMBER: _ClassVar[int]
    SOURCE_END_OFFSET_FIELD_NUMBER: _ClassVar[int]
    MIRROR_END_OFFSET_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIDELITY_FIELD_NUMBER: _ClassVar[int]
    MIRRORED_SOURCE_OFFSET_FIELD_NUMBER: _ClassVar[int]
    REENCODED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    partition: int
    source_log_start_offset: int
    source_end_offset: int
    mirror_end_offset: int
    lag: int
    offset_fidelity: OffsetFidelity
    mirrored_source_offset: int
    reencoded_batches: int
    replica: str
    def __init__(self, partition: _Optional[int] = ..., source_log_start_offset: _Optional[int] = ..., source_end_offset: _Optional[int] = ..., mirror_end_offset: _Optional[int] = ..., lag: _Optional[int] = ..., offset_fidelity: _Optional[_Union[OffsetFidelity, str]] = ..., mirrored_source_offset: _Optional[int] = ..., reencoded_batches: _Optional[int] = ..., replica: _Optional[str] = ...) -> None: ...

class TranslationSegment(_message.Message):
    __slots__ = ("partition", "source_offset", "destination_offset")
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_OFFSET_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_OFFSET_FIELD_NUMBER: _ClassVar[int]
    partition: int
    source_offset: int
    destination_offset: int
    def __init__(self, partition: _Optional[int] = ..., source_offset: _Optional[int] = ..., destination_offset: _Optional[int] = ...) -> None: ...

class CreateLinkRequest(_message.Message):
    __slots__ = ("link_id", "link", "validate_only")
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    link_id: str
    link: Link
    validate_only: bool
    def __init__(self, link_id: _Optional[str] = ..., link: _Optional[_Union[Link, _Mapping]] = ..., validate_only: bool = ...) -> None: ...

class GetLinkRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListLinksRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListLinksResponse(_message.Message):
    __slots__ = ("links", "next_page_token")
    LINKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    links: _containers.RepeatedCompositeFieldContainer[Link]
    next_page_token: str
    def __init__(self, links: _Optional[_Iterable[_Union[Link, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateLinkRequest(_message.Message):
    __slots__ = ("link", "update_mask", "validate_only")
    LINK_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    link: Link
    update_mask: _field_mask_pb2.FieldMask
    validate_only: bool
    def __init__(self, link: _Optional[_Union[Link, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., validate_only: bool = ...) -> None: ...

class DeleteLinkRequest(_message.Message):
    __slots__ = ("name", "etag", "force", "validate_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    force: bool
    validate_only: bool
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ..., force: bool = ..., validate_only: bool = ...) -> None: ...

class PauseLinkRequest(_message.Message):
    __slots__ = ("name", "validate_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    validate_only: bool
    def __init__(self, name: _Optional[str] = ..., validate_only: bool = ...) -> None: ...

class ResumeLinkRequest(_message.Message):
    __slots__ = ("name", "validate_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    validate_only: bool
    def __init__(self, name: _Optional[str] = ..., validate_only: bool = ...) -> None: ...

class CreateMirrorTopicRequest(_message.Message):
    __slots__ = ("parent", "mirror_topic_id", "mirror_topic", "validate_only")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    MIRROR_TOPIC_ID_FIELD_NUMBER: _ClassVar[int]
    MIRROR_TOPIC_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    mirror_topic_id: str
    mirror_topic: MirrorTopic
    validate_only: bool
    def __init__(self, parent: _Optional[str] = ..., mirror_topic_id: _Optional[str] = ..., mirror_topic: _Optional[_Union[MirrorTopic, _Mapping]] = ..., validate_only: bool = ...) -> None: ...

class GetMirrorTopicRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListMirrorTopicsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMirrorTopicsResponse(_message.Message):
    __slots__ = ("mirror_topics", "next_page_token")
    MIRROR_TOPICS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    mirror_topics: _containers.RepeatedCompositeFieldContainer[MirrorTopic]
    next_page_token: str
    def __init__(self, mirror_topics: _Optional[_Iterable[_Union[MirrorTopic, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PauseMirrorTopicRequest(_message.Message):
    __slots__ = ("name", "validate_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    validate_only: bool
    def __init__(self, name: _Optional[str] = ..., validate_only: bool = ...) -> None: ...

class ResumeMirrorTopicRequest(_message.Message):
    __slots__ = ("name", "validate_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    validate_only: bool
    def __init__(self, name: _Optional[str] = ..., validate_only: bool = ...) -> None: ...

class PromoteMirrorTopicRequest(_message.Message):
    __slots__ = ("name", "validate_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    validate_only: bool
    def __init__(self, name: _Optional[str] = ..., validate_only: bool = ...) -> None: ...

class FailoverMirrorTopicRequest(_message.Message):
    __slots__ = ("name", "validate_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    validate_only: bool
    def __init__(self, name: _Optional[str] = ..., validate_only: bool = ...) -> None: ...

class DeleteMirrorTopicRequest(_message.Message):
    __slots__ = ("name", "delete_destination_topic", "validate_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DELETE_DESTINATION_TOPIC_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    delete_destination_topic: bool
    validate_only: bool
    def __init__(self, name: _Optional[str] = ..., delete_destination_topic: bool = ..., validate_only: bool = ...) -> None: ...

class ListTranslationSegmentsRequest(_message.Message):
    __slots__ = ("name", "partition")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    name: str
    partition: int
    def __init__(self, name: _Optional[str] = ..., partition: _Optional[int] = ...) -> None: ...

class ListTranslationSegmentsResponse(_message.Message):
    __slots__ = ("segments",)
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[TranslationSegment]
    def __init__(self, segments: _Optional[_Iterable[_Union[TranslationSegment, _Mapping]]] = ...) -> None: ...

class TranslateOffsetsRequest(_message.Message):
    __slots__ = ("name", "partition", "source_offsets")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_OFFSETS_FIELD_NUMBER: _ClassVar[int]
    name: str
    partition: int
    source_offsets: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., partition: _Optional[int] = ..., source_offsets: _Optional[_Iterable[int]] = ...) -> None: ...

class TranslateOffsetsResponse(_message.Message):
    __slots__ = ("destination_offsets",)
    DESTINATION_OFFSETS_FIELD_NUMBER: _ClassVar[int]
    destination_offsets: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, destination_offsets: _Optional[_Iterable[int]] = ...) -> None: ...

class ListReplicasRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListReplicasResponse(_message.Message):
    __slots__ = ("replicas",)
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    replicas: _containers.RepeatedCompositeFieldContainer[Replica]
    def __init__(self, replicas: _Optional[_Iterable[_Union[Replica, _Mapping]]] = ...) -> None: ...

class Replica(_message.Message):
    __slots__ = ("name", "replica_id", "address", "start_time", "heartbeat_time", "links")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_TIME_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    name: str
    replica_id: str
    address: str
    start_time: _timestamp_pb2.Timestamp
    heartbeat_time: _timestamp_pb2.Timestamp
    links: _containers.RepeatedCompositeFieldContainer[ReplicaLink]
    def __init__(self, name: _Optional[str] = ..., replica_id: _Optional[str] = ..., address: _Optional[str] = ..., start_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., heartbeat_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., links: _Optional[_Iterable[_Union[ReplicaLink, _Mapping]]] = ...) -> None: ...

class ReplicaLink(_message.Message):
    __slots__ = ("link", "partitions", "control")
    LINK_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    link: str
    partitions: int
    control: bool
    def __init__(self, link: _Optional[str] = ..., partitions: _Optional[int] = ..., control: bool = ...) -> None: ...
