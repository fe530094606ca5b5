"""Column types and enums shared by the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend.

    SQLite keeps no offset, so values go in as naive UTC and come back with UTC
    attached; a naive value handed in is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; use an aware UTC instant")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class EnumText(TypeDecorator[StrEnum]):
    """A StrEnum stored as its plain value (no native ENUM type to migrate)."""

    impl = String(24)
    cache_ok = True

    def __init__(self, enum_cls: type[StrEnum]) -> None:
        super().__init__()
        self.enum_cls = enum_cls

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else self.enum_cls(value).value

    def process_result_value(self, value: str | None, dialect: Any) -> StrEnum | None:
        return None if value is None else self.enum_cls(value)


class RecordStatus(StrEnum):
    DRAFT = "draft"  # 草稿: being filled in
    CONFIRMING = "confirming"  # 待确认: submitted, waiting for participants' sign-off
    IN_PROGRESS = "in_progress"  # 进行中
    DELAYED = "delayed"  # 已延期: an item missed its deadline
    CLOSED = "closed"  # 已闭环: verified result written
    WITHDRAWN = "withdrawn"  # 已撤回: never activated, taken back by the recorder; kept for the audit trail


OPEN_RECORD_STATUSES = (RecordStatus.IN_PROGRESS, RecordStatus.DELAYED)
# Never a record of the register: a draft not submitted, a record withdrawn (taken back before it was activated).
# Lists, exports and the monthly review leave them out; the audit trail keeps them.
NOT_IN_REGISTER = (RecordStatus.DRAFT.value, RecordStatus.WITHDRAWN.value)


class ItemStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class ItemTerm(StrEnum):
    SHORT = "short"  # 短期
    LONG = "long"  # 长期


class ResourceStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"  # gave up after the last retry; kept for the operator


class Category(StrEnum):
    """问题类型, for the monthly review."""

    RESOURCE_CONFLICT = "resource_conflict"  # 资源冲突
    PROCESS_BOTTLENECK = "process_bottleneck"  # 流程瓶颈
    UNCLEAR_RESPONSIBILITY = "unclear_responsibility"  # 职责不清
    INFORMATION_GAP = "information_gap"  # 信息不对称
    TECHNICAL = "technical"  # 技术问题
    REQUIREMENT_CHANGE = "requirement_change"  # 需求变更
    QUALITY = "quality"  # 质量问题
    OTHER = "other"  # 其他


class AuditAction(StrEnum):
    RECORD_CREATED = "record.created"
    RECORD_EDITED = "record.edited"
    RECORD_SUBMITTED = "record.submitted"
    RECORD_CONFIRMED = "record.confirmed"
    RECORD_ACTIVATED = "record.activated"
    RECORD_DELAYED = "record.delayed"
    RECORD_CLOSED = "record.closed"
    RECORD_REOPENED = "record.reopened"
    PARTICIPANTS_SET = "record.participants_set"
    KEY_POINTS_SET = "record.key_points_set"
    RESOURCES_SET = "record.resources_set"
    CC_SET = "record.cc_set"
    ITEM_ADDED = "item.added"
    ITEM_EDITED = "item.edited"
    ITEM_CANCELLED = "item.cancelled"
    ITEM_PROGRESS = "item.progress"
    ITEM_COMPLETED = "item.completed"
    ESCALATED = "record.escalated"  # detail: level 1 / 2 from the overdue ladder, none from /escalate
    RESOURCE_DECIDED = "record.resource_decided"
    ITEM_RESCHEDULED = "item.rescheduled"  # a new due date (storage.review.RESCHEDULE_ACTIONS counts it)
    RECORD_WITHDRAWN = "record.withdrawn"
    SIGNOFF_RESET = "record.signoff_reset"  # a substantive change: the participants concerned sign again
    MEETING_SCHEDULED = "record.meeting_scheduled"
    MEETING_NOTIFIED = "record.meeting_notified"
    MEETING_REPLIED = "record.meeting_replied"
    REMINDED = "record.reminded"  # a roll-call (催办)
    ITEM_REASSIGNED = "item.reassigned"
    ITEM_SNOOZED = "item.snoozed"


class FileKind(StrEnum):
    """What a stored file is (``stored_files``): what a platform uploads or the sandbox serves."""

    RECORD_EXPORT = "record_export"
    LIST_EXPORT = "list_export"
    REVIEW_CHART = "review_chart"


class ExportFormat(StrEnum):
    MARKDOWN = "md"
    XLSX = "xlsx"
    DOCX = "docx"
    CSV = "csv"
