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
    ITEM_DUE_OPEN = "item.due_open"  # 改期: the form (new date, reason)
    ITEM_DUE = "item.due"
    ITEM_OWNER_OPEN = "item.owner_open"  # 转交
    ITEM_OWNER = "item.owner"
    ITEM_CANCEL_OPEN = "item.cancel_open"  # 取消 (reason)
    ITEM_CANCEL = "item.cancel"
    ITEM_EDIT_OPEN = "item.edit_open"  # 编辑任务: the item form with what is there
    ITEM_EDIT = "item.edit"
    RECORD_WITHDRAW_OPEN = "record.withdraw_open"
    RECORD_WITHDRAW = "record.withdraw"
    RECORD_REOPEN_OPEN = "record.reopen_open"
    RECORD_REOPEN = "record.reopen"
    RECORD_HISTORY = "record.history"  # payload extra "page"
    RECORD_REMIND = "record.remind"  # 催办
    RESOURCE_APPROVE = "resource.approve"  # payload extra "request": the request's id
    RESOURCE_REJECT_OPEN = "resource.reject_open"
    RESOURCE_REJECT = "resource.reject"
    MEETING_NOTIFY = "meeting.notify"  # send the meeting notice
    MEETING_REPLY = "meeting.reply"  # a participant answers it (payload extra "at": the meeting, ISO)
    MEETING_FORM_OPEN = "meeting.form_open"  # schedule the next meeting (二次沟通)
    MEETING_SCHEDULE = "meeting.schedule"
