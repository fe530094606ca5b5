"""The tables: one record per cross-department problem (the fields of the template, see README) and what keeps it moving.

Every instant is an aware UTC datetime (``UTCDateTime``). Rows are changed only
through ``storage.lifecycle``; the audit trail is append-only (database triggers,
see the initial migration).
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from storage.types import (
    AuditAction,
    Category,
    EnumText,
    FileKind,
    ItemStatus,
    ItemTerm,
    OutboxStatus,
    RecordStatus,
    ResourceStatus,
    UTCDateTime,
)


def _utc(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


def _text(**kwargs: Any) -> Any:
    return Field(sa_type=Text, **kwargs)


class Group(SQLModel, table=True):
    """A group chat on one platform, with its own zone, calendar and reminder times."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("platform", "chat_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=128)
    workspace: str = Field(max_length=160, description="platform tenant; departments live here")
    name: str = Field(default="", max_length=200)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    holiday_country: str = Field(default="CN", max_length=8)
    language: str = Field(default="zh-CN", max_length=8)
    prompt_time: time = Field(default=time(17, 30))
    warning_time: time = Field(default=time(10, 0))
    warning_days: int = Field(default=2)
    meeting_reminder_minutes: int = Field(default=60)
    created_at: datetime = _utc()
    # what a platform needs per group, set by its admins with /settings (handlers.capabilities.GroupSetting): opaque
    # strings the platform wrote (a secret arrives sealed by it), by the setting's key
    platform_settings: dict[str, str] = Field(default_factory=dict, sa_type=JSON)


class GroupMember(SQLModel, table=True):
    """Someone who spoke to the bot in a group or pressed its buttons there: the group's person pickers offer them.

    Not every platform can list a chat's members; this is what the group itself has shown us.
    """

    __tablename__ = "group_members"
    __table_args__ = (UniqueConstraint("group_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    person_id: int = Field(foreign_key="people.id")
    first_seen_at: datetime = _utc()


class Department(SQLModel, table=True):
    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("workspace", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(max_length=160)
    name: str = Field(max_length=64)
    lead_id: int | None = Field(default=None, foreign_key="people.id")
    director_id: int | None = Field(default=None, foreign_key="people.id")


class Person(SQLModel, table=True):
    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("platform", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    user_id: str = Field(max_length=128)
    display_name: str = Field(default="", max_length=100)
    department_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("departments.id", use_alter=True, name="fk_people_department")),
    )  # departments point back at people (lead, director): this side is added after both exist
    is_admin: bool = Field(default=False)


class Record(SQLModel, table=True):
    """跨部门沟通记录: one core problem, shown to users as ``R<id>``."""

    __tablename__ = "records"
    __table_args__ = (
        Index("ix_records_group_status", "group_id", "status"),
        Index("ix_records_group_created", "group_id", "created_at"),  # the monthly review reads by month
        Index("ix_records_group_closed", "group_id", "closed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    version: int = Field(default=1, description="bumped by every change; cards carry it")
    status: RecordStatus = Field(default=RecordStatus.DRAFT, sa_type=EnumText(RecordStatus))
    topic: str = Field(max_length=200)
    meeting_start: datetime | None = _utc(default=None)
    meeting_end: datetime | None = _utc(default=None)
    place: str | None = Field(default=None, max_length=200)
    meeting_link: str | None = Field(default=None, max_length=500)
    problem: str | None = _text(default=None)
    problem_what: str | None = _text(default=None)
    problem_when: str | None = _text(default=None)
    problem_where: str | None = _text(default=None)
    problem_who: str | None = _text(default=None)
    problem_why: str | None = _text(default=None)
    problem_how: str | None = _text(default=None)
    impact: str | None = _text(default=None)
    root_cause: str | None = _text(default=None)
    category: Category | None = Field(default=None, sa_type=EnumText(Category))
    verification: str | None = _text(default=None)
    notes: str | None = _text(default=None)
    next_meeting_at: datetime | None = _utc(default=None)
    meeting_goal: str | None = _text(default=None)
    meeting_agenda: str | None = _text(default=None)
    material_link: str | None = Field(default=None, max_length=500)
    recorder_id: int = Field(foreign_key="people.id")
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    submitted_at: datetime | None = _utc(default=None)
    activated_at: datetime | None = _utc(default=None)
    delayed_at: datetime | None = _utc(default=None)
    closed_at: datetime | None = _utc(default=None)
    withdrawn_at: datetime | None = _utc(default=None)

    @property
    def ref(self) -> str:
        return f"R{self.id}"


class Participant(SQLModel, table=True):
    """参与部门及人员, with whether they hold decision or resource authority."""

    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("record_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="records.id", index=True)
    person_id: int = Field(foreign_key="people.id")
    department_id: int | None = Field(default=None, foreign_key="departments.id")
    decision_authority: bool = Field(default=False)
    resource_authority: bool = Field(default=False)
    confirmed_at: datetime | None = _utc(default=None)


class KeyPoint(SQLModel, table=True):
    """沟通要点: one department's position."""

    __tablename__ = "key_points"
    __table_args__ = (UniqueConstraint("record_id", "department_id"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="records.id", index=True)
    department_id: int = Field(foreign_key="departments.id")
    text: str = _text()


class CarbonCopy(SQLModel, table=True):
    """抄送: a leader (person) or a supporting department (reached through its lead)."""

    __tablename__ = "record_cc"
    __table_args__ = (CheckConstraint("(person_id IS NULL) <> (department_id IS NULL)", name="cc_one_target"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="records.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="people.id")
    department_id: int | None = Field(default=None, foreign_key="departments.id")


class ActionItem(SQLModel, table=True):
    """解决方案的一项: one owner, one deadline, a measurable deliverable. Shown as ``R12-2``."""

    __tablename__ = "action_items"
    __table_args__ = (
        UniqueConstraint("record_id", "seq"),
        Index("ix_action_items_status_due", "status", "due_at"),
        Index("ix_action_items_owner_status", "owner_id", "status"),
        Index("ix_action_items_due", "due_at"),  # items due in a month (the review)
    )

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="records.id", index=True)
    seq: int
    description: str = _text()
    owner_id: int = Field(foreign_key="people.id")
    department_id: int | None = Field(default=None, foreign_key="departments.id")
    due_at: datetime = _utc()
    measure: str | None = _text(default=None)
    resources: str | None = _text(default=None)
    term: ItemTerm = Field(default=ItemTerm.SHORT, sa_type=EnumText(ItemTerm))
    status: ItemStatus = Field(default=ItemStatus.OPEN, sa_type=EnumText(ItemStatus))
    done_at: datetime | None = _utc(default=None)
    result: str | None = _text(default=None)
    cancel_reason: str | None = _text(default=None)
    snoozed_until: date | None = Field(default=None, description="no daily prompt up to this local day")
    snooze_reason: str | None = _text(default=None)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class ProgressUpdate(SQLModel, table=True):
    __tablename__ = "progress_updates"
    __table_args__ = (Index("ix_progress_item_at", "action_item_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    action_item_id: int = Field(foreign_key="action_items.id")
    person_id: int = Field(foreign_key="people.id")
    text: str = _text()
    percent: int | None = Field(default=None)
    blocked: bool = Field(default=False)
    created_at: datetime = _utc()


class ResourceRequest(SQLModel, table=True):
    """资源需求: what is needed, how much, who approves (e.g. 5000 元, finance manager)."""

    __tablename__ = "resource_requests"

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="records.id", index=True)
    what: str = _text()
    amount: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2)))
    unit: str | None = Field(default=None, max_length=16)
    approver_id: int | None = Field(default=None, foreign_key="people.id")
    status: ResourceStatus = Field(default=ResourceStatus.PENDING, sa_type=EnumText(ResourceStatus))
    decided_at: datetime | None = _utc(default=None)
    requested_at: datetime | None = _utc(default=None, description="when it went to its approver")
    decided_by_id: int | None = Field(default=None, foreign_key="people.id")
    decision_note: str | None = _text(default=None)


class AuditEntry(SQLModel, table=True):
    """Append-only: who did what to which record, when. Never updated, never deleted."""

    __tablename__ = "audit_trail"
    __table_args__ = (Index("ix_audit_action_at", "action", "at"),)  # reschedules and escalations of a month

    id: int | None = Field(default=None, primary_key=True)
    record_id: int | None = Field(default=None, foreign_key="records.id", index=True)
    action_item_id: int | None = Field(default=None, foreign_key="action_items.id")
    actor_id: int | None = Field(default=None, foreign_key="people.id", description="None: the bot")
    action: AuditAction = Field(sa_type=EnumText(AuditAction))
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    at: datetime = _utc()


class ProcessedEvent(SQLModel, table=True):
    """Inbound platform event ids already handled: platforms deliver at least once."""

    __tablename__ = "processed_events"
    __table_args__ = (UniqueConstraint("platform", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    event_id: str = Field(max_length=200)
    received_at: datetime = _utc(index=True)


class InboundEvent(SQLModel, table=True):
    """A verified platform event acknowledged but not yet handled: the durable inbox.

    Written (in group commits) before the platform gets its 200, handled by the
    inbox worker, deleted once handled; ``processed_events`` keeps the event id
    afterwards. A row whose ``attempts`` reached the limit stays as a dead letter.
    """

    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("platform", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    event_id: str = Field(max_length=200)
    event: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, description="the neutral event, as JSON")
    received_at: datetime = _utc()
    attempts: int = Field(default=0)
    locked_until: datetime | None = _utc(default=None)
    last_error: str | None = _text(default=None)


WAITING = text("status = 'pending'")


class OutboxMessage(SQLModel, table=True):
    """A message that must arrive, written in the transaction that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # The sender reads a platform's waiting messages oldest first, and checks that each is the oldest waiting
        # one of its chat. Partial indexes hold only the waiting rows, so neither read walks past the sent ones,
        # whatever the planner's statistics say after a burst.
        Index("ix_outbox_waiting", "platform", "id", postgresql_where=WAITING, sqlite_where=WAITING),
        Index("ix_outbox_chat_order", "platform", "target", "id", postgresql_where=WAITING, sqlite_where=WAITING),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=200, unique=True)
    platform: str = Field(max_length=16)
    target: str = Field(max_length=200, description="the chat (or message) the platform sends to")
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: OutboxStatus = Field(default=OutboxStatus.PENDING, sa_type=EnumText(OutboxStatus))
    attempts: int = Field(default=0)
    next_attempt_at: datetime = _utc()
    locked_until: datetime | None = _utc(default=None)
    locked_by: str | None = Field(default=None, max_length=64, description="the sender holding the lease")
    last_error: str | None = _text(default=None)
    platform_message_id: str | None = Field(default=None, max_length=200)
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(default=None)


class OutboxSlot(SQLModel, table=True):
    """One send that a platform counts against its rate limits (``bot.outbox`` explains the pacing).

    ``counted_at`` is the latest instant the platform can have counted the send:
    when its answer came, or, while none has, a moment after it was sent. A slot
    counts in a sliding window until ``counted_at`` + the window's length; older
    rows are deleted as the sender goes, so the table holds about a second's sends.
    """

    __tablename__ = "outbox_slots"
    __table_args__ = (
        Index("ix_outbox_slots_app", "platform", "counted_at"),
        Index("ix_outbox_slots_chat", "platform", "target", "counted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    target: str = Field(max_length=200)
    taken_at: datetime = _utc()
    counted_at: datetime = _utc()


class ReadinessProbe(SQLModel, table=True):
    """The row ``/readyz`` writes to prove the database takes a write (a locked file or a full disk does not)."""

    __tablename__ = "readiness_probe"

    name: str = Field(primary_key=True, max_length=64)
    checked_at: datetime = _utc()


class FormDraft(SQLModel, table=True):
    """A half-filled form, per user in a chat, so a restart or another replica loses nothing."""

    __tablename__ = "form_drafts"
    __table_args__ = (UniqueConstraint("group_id", "person_id", "form_key"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    person_id: int = Field(foreign_key="people.id")
    form_key: str = Field(max_length=64, description="e.g. record:new, record:12, item:12")
    record_id: int | None = Field(default=None, foreign_key="records.id")
    record_version: int | None = Field(default=None)
    values: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    updated_at: datetime = _utc()
    warned_at: datetime | None = _utc(default=None, description="the form came back once with its warnings")


class WebForm(SQLModel, table=True):
    """A form published as a web page behind a signed link, for one person in one group.

    The card is kept exactly as it was published (neutral JSON), so the page shows
    what the chat showed; ``values`` is what the person last posted (a draft, or a
    submission with errors). Once ``submitted_at`` is set the link is used up;
    ``result`` says what the submission produced (e.g. the record it created).
    """

    __tablename__ = "web_forms"
    __table_args__ = (Index("ix_web_forms_expires", "expires_at"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    person_id: int = Field(foreign_key="people.id")
    card: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, description="the neutral form card")
    values: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    created_at: datetime = _utc()
    expires_at: datetime = _utc()
    submitted_at: datetime | None = _utc(default=None)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class CalendarOverride(SQLModel, table=True):
    """A workspace's own extra holiday or extra workday, on top of the statutory calendar."""

    __tablename__ = "calendar_overrides"
    __table_args__ = (UniqueConstraint("workspace", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(max_length=160)
    day: date
    is_workday: bool
    note: str | None = Field(default=None, max_length=200)


class StoredFile(SQLModel, table=True):
    """A file the bot made (an export, a review chart), kept until ``expires_at``.

    The chat answer is a card that refers to the file by id; each platform
    uploads it or serves it (the sandbox at ``/sandbox/files/<id>``).
    """

    __tablename__ = "stored_files"

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    kind: FileKind = Field(sa_type=EnumText(FileKind))
    filename: str = Field(max_length=200)
    mime: str = Field(max_length=100)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _utc()
    expires_at: datetime = _utc(index=True)


class FileUpload(SQLModel, table=True):
    """A stored file as a platform already holds it: the key it gave back, so nothing is uploaded twice.

    ``scope`` is where the key is valid, in the platform's terms (a kind of upload
    for keys the whole app may reuse, a channel for a file shared into it). A retry
    of the message, or another message with the same file, finds the key here.
    """

    __tablename__ = "file_uploads"
    __table_args__ = (UniqueConstraint("file_id", "platform", "scope"),)

    id: int | None = Field(default=None, primary_key=True)
    file_id: int = Field(foreign_key="stored_files.id")
    platform: str = Field(max_length=16)
    scope: str = Field(max_length=200)
    key: str = Field(max_length=300)
    created_at: datetime = _utc()


class MeetingReply(SQLModel, table=True):
    """A participant's answer to a meeting notice: coming or not, and with which authority (提前确认决策权限)."""

    __tablename__ = "meeting_replies"
    __table_args__ = (UniqueConstraint("record_id", "person_id", "meeting_at"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="records.id", index=True)
    person_id: int = Field(foreign_key="people.id")
    meeting_at: datetime = _utc()
    attending: bool
    decision_authority: bool = Field(default=False)
    resource_authority: bool = Field(default=False)
    note: str | None = _text(default=None)
    replied_at: datetime = _utc()


class FormSubmission(SQLModel, table=True):
    """A form that was stored, by the token its payload carried: the same form twice makes one record."""

    __tablename__ = "form_submissions"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, unique=True)
    group_id: int = Field(foreign_key="groups.id")
    person_id: int = Field(foreign_key="people.id")
    action: str = Field(max_length=64)
    record_id: int | None = Field(default=None, foreign_key="records.id")
    item_id: int | None = Field(default=None, foreign_key="action_items.id")
    created_at: datetime = _utc()
