"""Ids of the actions buttons and forms carry. Handlers register for these; nothing else names them."""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    RECORD_SUBMIT = "record.submit"  # the record form: save and ask participants to confirm
    RECORD_SAVE_DRAFT = "record.save_draft"  # the record form: keep what is typed, check nothing
    RECORD_SAVE = "record.save"  # the record form on an existing record: save changes
    RECORD_CONFIRM = "record.confirm"  # a participant signs off
    RECORD_ACTIVATE = "record.activate"  # the recorder starts follow-up without waiting
    RECORD_SHOW = "record.show"
    RECORD_EDIT = "record.edit"
    RECORD_CLOSE_OPEN = "record.close_open"
    RECORD_CLOSE = "record.close"
    ITEM_ADD_OPEN = "item.add_open"
    ITEM_ADD = "item.add"
    ITEM_PROGRESS_OPEN = "item.progress_open"
    ITEM_PROGRESS = "item.progress"
    ITEM_DONE = "item.done"
    SECOND_MEETING = "record.second_meeting"  # proposed by the escalation ladder (二次沟通)
