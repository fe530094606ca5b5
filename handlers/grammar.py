"""The command grammar: slash commands and ``@bot`` text, in English and Chinese.

Input is neutral text: people's @-mentions are ``<@USER_ID>`` tokens and the
bot's own mention is gone. ``parse_command`` returns one typed dataclass per
command or raises ``UsageError`` (with the usage line and, for a misspelt
command, the nearest one) — never anything else, whatever the input.

Words are matched on a *folded* copy of the text (full-width ASCII such as
``／ｒｅｃｏｒｄ　Ｒ１２`` made plain, one character for one), so free text — a
topic, a verification result, a reason — is cut from the user's original at
the same offsets and keeps its spacing and punctuation as typed; a mention in
free text becomes ``@name`` (a person's text never carries a mention token).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, cast

from cards.quantities import PercentError, chinese_number, read_percent
from storage.types import ExportFormat


class CommandName(StrEnum):
    RECORD_NEW = "record.new"
    RECORD_LIST = "record.list"
    RECORD_SHOW = "record.show"
    RECORD_EDIT = "record.edit"
    RECORD_CLOSE = "record.close"
    RECORD_EXPORT = "record.export"
    ACTION_ADD = "action.add"
    ACTION_DONE = "action.done"
    PROGRESS = "progress"
    ESCALATE = "escalate"
    REPORT = "report"
    DEPT_SET = "dept.set"
    DEPT_LIST = "dept.list"
    SETTINGS = "settings"
    BOARD = "board"
    HELP = "help"
    EXPORT = "export"
    RESOURCE_APPROVE = "approve"
    RESOURCE_REJECT = "reject"
    ACTION_DUE = "action.due"
    ACTION_OWNER = "action.owner"
    ACTION_CANCEL = "action.cancel"
    ACTION_EDIT = "action.edit"
    RECORD_REOPEN = "record.reopen"
    RECORD_WITHDRAW = "record.withdraw"
    RECORD_NOTIFY = "record.notify"
    RECORD_HISTORY = "record.history"
    REMIND = "remind"
    SNOOZE = "snooze"


@dataclass(frozen=True)
class RecordRef:
    record_id: int

    def __str__(self) -> str:
        return f"R{self.record_id}"


@dataclass(frozen=True)
class ItemRef:
    record_id: int
    seq: int

    def __str__(self) -> str:
        return f"R{self.record_id}-{self.seq}"


@dataclass(frozen=True)
class Mention:
    user_id: str


class ListFilter(StrEnum):
    OPEN = "open"
    DELAYED = "delayed"
    CLOSED = "closed"
    MINE = "mine"


# ---------------------------------------------------------------- the command table


@dataclass(frozen=True)
class CommandSpec:
    """One row of the command table; the first English and Chinese words are the ones we suggest."""

    name: CommandName
    english: tuple[str, ...]
    chinese: tuple[str, ...]
    usage_zh: str
    usage_en: str
    about_zh: str
    about_en: str

    def usage(self, lang: str = "zh-CN") -> str:
        return self.usage_en if _english(lang) else self.usage_zh

    def description(self, lang: str = "zh-CN") -> str:
        return self.about_en if _english(lang) else self.about_zh


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(CommandName.RECORD_NEW, ("record new",), ("新建记录", "记录 新建"),
                "/record new [主题]（中文：新建记录 [主题]）", "/record new [topic]",
                "新建一条跨部门沟通记录", "open a new record"),
    CommandSpec(CommandName.RECORD_LIST, ("record list",), ("记录列表", "记录 列表"),
                "/record list [open|delayed|closed|mine]（中文：记录列表 [进行中|已延期|已闭环|我的]）",
                "/record list [open|delayed|closed|mine]",
                "列出本群的记录", "list this group's records"),
    CommandSpec(CommandName.RECORD_SHOW, ("record show",), ("查看", "记录 查看"),
                "/record show R12（中文：查看 R12）", "/record show R12",
                "查看一条记录", "show a record"),
    CommandSpec(CommandName.RECORD_EDIT, ("record edit",), ("编辑", "记录 编辑"),
                "/record edit R12（中文：编辑 R12）", "/record edit R12",
                "编辑一条记录", "edit a record"),
    CommandSpec(CommandName.RECORD_CLOSE, ("record close",), ("闭环", "记录 闭环"),
                "/record close R12 <验证结果>（中文：闭环 R12 <验证结果>）", "/record close R12 <verification result>",
                "写明验证结果后闭环", "close a record with its verified result"),
    CommandSpec(CommandName.RECORD_EXPORT, ("record export",), ("导出", "记录 导出"),
                "/record export R12 [xlsx|docx|md]（中文：导出 R12 [excel|word]）", "/record export R12 [xlsx|docx|md]",
                "按模板导出记录（表格、Word 或聊天中的表格）", "export a record as the template's table (Excel, Word or chat)"),
    CommandSpec(CommandName.ACTION_ADD, ("action add",), ("新增任务", "任务 新增"),
                "/action add R12（中文：新增任务 R12）", "/action add R12",
                "为记录新增一项任务", "add an action item to a record"),
    CommandSpec(CommandName.ACTION_DONE, ("action done",), ("完成", "任务 完成"),
                "/action done R12-2 [结果]（中文：完成 R12-2 [结果]）", "/action done R12-2 [result]",
                "标记任务完成", "mark an action item done"),
    CommandSpec(CommandName.PROGRESS, ("progress",), ("进度", "进展"),
                "/progress R12-2 <内容> [60%]（中文：进度 R12-2 <内容> [60%]）", "/progress R12-2 <text> [60%]",
                "汇报任务进度", "report progress on an action item"),
    CommandSpec(CommandName.ESCALATE, ("escalate",), ("升级",),
                "/escalate R12|R12-2 [原因]（中文：升级 R12|R12-2 [原因]）", "/escalate R12|R12-2 [reason]",
                "升级给部门负责人", "escalate to the department leads"),
    CommandSpec(CommandName.REPORT, ("report",), ("复盘",),
                "/report [YYYY-MM] [all]（中文：复盘 [2026年3月] [全部]）", "/report [YYYY-MM] [all]",
                "月度复盘（全部群：管理员）", "the monthly review (all groups: admins)"),
    CommandSpec(CommandName.DEPT_SET, ("dept set",), ("部门设置", "部门 设置"),
                "/dept set <部门> lead @负责人 [director @总监]（中文：部门 设置 <部门> 负责人 @x [总监 @y]）",
                "/dept set <name> lead @x [director @y]",
                "设置部门负责人和总监", "set a department's lead and director"),
    CommandSpec(CommandName.DEPT_LIST, ("dept list", "dept"), ("部门列表", "部门 列表", "部门"),
                "/dept list（中文：部门 列表）", "/dept list",
                "列出部门", "list the departments"),
    CommandSpec(CommandName.SETTINGS, ("settings",), ("设置",),
                "/settings [项 值]（中文：设置 提醒时间 17:30）", "/settings [key value]",
                "查看或修改本群设置", "show or change this group's settings"),
    CommandSpec(CommandName.BOARD, ("board",), ("看板",),
                "/board（中文：看板）", "/board",
                "打开本群的进度看板（网页，24 小时内有效）", "open the group's progress board (a web page, valid a day)"),
    CommandSpec(CommandName.HELP, ("help",), ("帮助",),
                "/help [命令]（中文：帮助 [命令]）", "/help [command]",
                "查看命令说明", "explain the commands"),
    CommandSpec(CommandName.EXPORT, ("export",), ("导出全部", "全部导出"),
                "/export [YYYY-MM] [csv|xlsx]（中文：导出全部 [2026年3月] [csv|excel]）", "/export [YYYY-MM] [csv|xlsx]",
                "导出本群的记录和任务清单（每项任务一行）", "export this group's records and items (one row per item)"),
    CommandSpec(CommandName.RESOURCE_APPROVE, ("approve",), ("批准",),
                "/approve R12 [序号] [意见]（中文：批准 R12 [序号] [意见]）", "/approve R12 [number] [note]",
                "审批人批准资源需求", "the approver approves a resource request"),
    CommandSpec(CommandName.RESOURCE_REJECT, ("reject",), ("驳回",),
                "/reject R12 [序号] <原因>（中文：驳回 R12 [序号] <原因>）", "/reject R12 [number] <reason>",
                "审批人驳回资源需求（写明原因）", "the approver rejects a resource request, with the reason"),
    CommandSpec(CommandName.ACTION_DUE, ("action due",), ("改期", "任务 改期"),
                "/action due R12-2 <日期> <原因>（中文：改期 R12-2 <日期> <原因>）", "/action due R12-2 <date> <reason>",
                "修改任务完成时限（写明原因）", "move an item's deadline, with the reason"),
    CommandSpec(CommandName.ACTION_OWNER, ("action owner",), ("转交", "任务 转交"),
                "/action owner R12-2 @某人 [原因]（中文：转交 R12-2 @某人 [原因]）", "/action owner R12-2 @someone [reason]",
                "把任务转交给另一位责任人", "give an item to another owner"),
    CommandSpec(CommandName.ACTION_CANCEL, ("action cancel",), ("取消", "取消任务", "任务 取消"),
                "/action cancel R12-2 <原因>（中文：取消 R12-2 <原因>）", "/action cancel R12-2 <reason>",
                "写明原因后取消任务（记录人）", "cancel an item with the reason (recorder)"),
    CommandSpec(CommandName.ACTION_EDIT, ("action edit",), ("编辑任务", "任务 编辑"),
                "/action edit R12-2（中文：编辑任务 R12-2）", "/action edit R12-2",
                "修改任务内容、衡量标准、期限类型和资源", "rewrite an item (deliverable, measure, term, resources)"),
    CommandSpec(CommandName.RECORD_REOPEN, ("record reopen",), ("重新打开", "记录 重新打开"),
                "/record reopen R12 <原因>（中文：重新打开 R12 <原因>）", "/record reopen R12 <reason>",
                "重新打开已闭环的记录", "reopen a closed record"),
    CommandSpec(CommandName.RECORD_WITHDRAW, ("record withdraw",), ("撤回", "记录 撤回"),
                "/record withdraw R12 [原因]（中文：撤回 R12 [原因]）", "/record withdraw R12 [reason]",
                "撤回尚未启动跟进的记录", "withdraw a record that never became active"),
    CommandSpec(CommandName.RECORD_NOTIFY, ("record notify",), ("通知", "会议通知", "记录 通知"),
                "/record notify R12（中文：通知 R12）", "/record notify R12",
                "发会议通知，请参与人确认是否参加及决策权限", "send the meeting notice; participants confirm attendance and authority"),
    CommandSpec(CommandName.RECORD_HISTORY, ("record history",), ("历史", "记录 历史"),
                "/record history R12 [页码]（中文：历史 R12 [页码]）", "/record history R12 [page]",
                "查看记录的修改历史", "who changed what, when"),
    CommandSpec(CommandName.REMIND, ("remind",), ("催办",),
                "/remind R12（中文：催办 R12）", "/remind R12",
                "提醒尚未确认或今天尚未汇报的人", "remind who has not signed, or not reported today"),
    CommandSpec(CommandName.SNOOZE, ("snooze",), ("暂缓",),
                "/snooze R12-2 <日期> <原因>（中文：暂缓 R12-2 <日期> <原因>）", "/snooze R12-2 <until> <reason>",
                "暂停某项任务的每日汇报提醒（最多5个工作日）", "pause an item's daily prompt (5 workdays at most)"),
)  # fmt: skip
SPECS = {spec.name: spec for spec in COMMANDS}

# A group word takes a sub-word in either language: /record 新建, /记录 new, 记录 新建.
GROUPS = {"record": "record", "记录": "record", "action": "action", "任务": "action", "dept": "dept",
          "department": "dept", "部门": "dept"}  # fmt: skip
SUB_WORDS = {"新建": "new", "列表": "list", "查看": "show", "编辑": "edit", "闭环": "close", "导出": "export",
             "新增": "add", "添加": "add", "完成": "done", "设置": "set", "改期": "due", "转交": "owner",
             "取消": "cancel", "重新打开": "reopen", "撤回": "withdraw", "通知": "notify", "历史": "history"}  # fmt: skip
FILTERS = {
    "open": ListFilter.OPEN, "进行中": ListFilter.OPEN, "未闭环": ListFilter.OPEN,
    "delayed": ListFilter.DELAYED, "已延期": ListFilter.DELAYED, "延期": ListFilter.DELAYED,
    "closed": ListFilter.CLOSED, "已闭环": ListFilter.CLOSED, "闭环": ListFilter.CLOSED,
    "mine": ListFilter.MINE, "my": ListFilter.MINE, "我的": ListFilter.MINE,
}  # fmt: skip
# ``/report all``, ``导出 全部``: every group of the workspace, or every record.
ALL_WORDS = frozenset({"all", "全部", "所有", "全部群", "所有群"})
RECORD_FORMATS = {
    "md": ExportFormat.MARKDOWN, "markdown": ExportFormat.MARKDOWN, "文本": ExportFormat.MARKDOWN,
    "xlsx": ExportFormat.XLSX, "excel": ExportFormat.XLSX, "表格": ExportFormat.XLSX,
    "docx": ExportFormat.DOCX, "word": ExportFormat.DOCX, "文档": ExportFormat.DOCX,
}  # fmt: skip
LIST_FORMATS = {"csv": ExportFormat.CSV, "xlsx": ExportFormat.XLSX, "excel": ExportFormat.XLSX,
                "表格": ExportFormat.XLSX}  # fmt: skip
RELATIVE_MONTHS = {"本月": 0, "这个月": 0, "当月": 0, "上月": 1, "上个月": 1}
ROLES = {"lead": "lead", "负责人": "lead", "主管": "lead", "director": "director", "总监": "director",
         "分管领导": "director"}  # fmt: skip


def _phrase_key(words: list[str]) -> str:
    group = GROUPS.get(words[0].lower())
    if group and len(words) == 2:
        return f"{group} {SUB_WORDS.get(words[1].lower(), words[1].lower())}"
    return group or words[0].lower()


PHRASES = {_phrase_key(p.split()): spec.name for spec in COMMANDS for p in (*spec.english, *spec.chinese)}
# Chinese words people type without a space before the argument: 查看R12, 进度R12-2 …, 记录新建 主题.
GLUED = sorted({p for spec in COMMANDS for p in spec.chinese if " " not in p} | {g for g in GROUPS if not g.isascii()},
               key=len, reverse=True)  # fmt: skip


# ---------------------------------------------------------------- commands


@dataclass(frozen=True)
class RecordNew:
    name: ClassVar[CommandName] = CommandName.RECORD_NEW
    topic: str | None


@dataclass(frozen=True)
class RecordList:
    name: ClassVar[CommandName] = CommandName.RECORD_LIST
    filter: ListFilter


@dataclass(frozen=True)
class RecordShow:
    name: ClassVar[CommandName] = CommandName.RECORD_SHOW
    record: RecordRef


@dataclass(frozen=True)
class RecordEdit:
    name: ClassVar[CommandName] = CommandName.RECORD_EDIT
    record: RecordRef


@dataclass(frozen=True)
class RecordClose:
    name: ClassVar[CommandName] = CommandName.RECORD_CLOSE
    record: RecordRef
    verification: str


@dataclass(frozen=True)
class RecordExport:
    name: ClassVar[CommandName] = CommandName.RECORD_EXPORT
    record: RecordRef
    format: ExportFormat = ExportFormat.MARKDOWN


@dataclass(frozen=True)
class ActionAdd:
    name: ClassVar[CommandName] = CommandName.ACTION_ADD
    record: RecordRef


@dataclass(frozen=True)
class ActionDone:
    name: ClassVar[CommandName] = CommandName.ACTION_DONE
    item: ItemRef
    result: str | None


@dataclass(frozen=True)
class Progress:
    name: ClassVar[CommandName] = CommandName.PROGRESS
    item: ItemRef
    text: str
    percent: int | None


@dataclass(frozen=True)
class Escalate:
    name: ClassVar[CommandName] = CommandName.ESCALATE
    target: RecordRef | ItemRef
    reason: str | None


@dataclass(frozen=True)
class Report:
    """No month: this month (``months_ago`` back: 上月); ``workspace``: every group of the workspace."""

    name: ClassVar[CommandName] = CommandName.REPORT
    year: int | None
    month: int | None
    workspace: bool = False
    months_ago: int = 0


@dataclass(frozen=True)
class Export:
    """The group's records and items as a list; no month: all of them."""

    name: ClassVar[CommandName] = CommandName.EXPORT
    year: int | None
    month: int | None
    format: ExportFormat = ExportFormat.XLSX
    months_ago: int = 0


@dataclass(frozen=True)
class ResourceApprove:
    """``number``: the request as the record lists it (1, 2 …); None: every request waiting for the sender."""

    name: ClassVar[CommandName] = CommandName.RESOURCE_APPROVE
    record: RecordRef
    number: int | None
    note: str | None


@dataclass(frozen=True)
class ResourceReject:
    name: ClassVar[CommandName] = CommandName.RESOURCE_REJECT
    record: RecordRef
    number: int | None
    note: str | None


@dataclass(frozen=True)
class DeptSet:
    """``department`` rather than ``name``: every command's ``name`` is its ``CommandName``."""

    name: ClassVar[CommandName] = CommandName.DEPT_SET
    department: str
    lead: Mention
    director: Mention | None


@dataclass(frozen=True)
class DeptList:
    name: ClassVar[CommandName] = CommandName.DEPT_LIST


@dataclass(frozen=True)
class Settings:
    name: ClassVar[CommandName] = CommandName.SETTINGS
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Board:
    name: ClassVar[CommandName] = CommandName.BOARD


@dataclass(frozen=True)
class Help:
    name: ClassVar[CommandName] = CommandName.HELP
    topic: CommandName | None


@dataclass(frozen=True)
class ActionDue:
    """``rest``: the new date and the reason as typed; the handler reads the date in the group's zone."""

    name: ClassVar[CommandName] = CommandName.ACTION_DUE
    item: ItemRef
    rest: str


@dataclass(frozen=True)
class ActionOwner:
    name: ClassVar[CommandName] = CommandName.ACTION_OWNER
    item: ItemRef
    owner: Mention
    reason: str | None


@dataclass(frozen=True)
class ActionCancel:
    name: ClassVar[CommandName] = CommandName.ACTION_CANCEL
    item: ItemRef
    reason: str


@dataclass(frozen=True)
class ActionEdit:
    name: ClassVar[CommandName] = CommandName.ACTION_EDIT
    item: ItemRef


@dataclass(frozen=True)
class RecordReopen:
    name: ClassVar[CommandName] = CommandName.RECORD_REOPEN
    record: RecordRef
    reason: str


@dataclass(frozen=True)
class RecordWithdraw:
    name: ClassVar[CommandName] = CommandName.RECORD_WITHDRAW
    record: RecordRef
    reason: str | None


@dataclass(frozen=True)
class RecordNotify:
    name: ClassVar[CommandName] = CommandName.RECORD_NOTIFY
    record: RecordRef


@dataclass(frozen=True)
class RecordHistory:
    name: ClassVar[CommandName] = CommandName.RECORD_HISTORY
    record: RecordRef
    page: int = 1


@dataclass(frozen=True)
class Remind:
    name: ClassVar[CommandName] = CommandName.REMIND
    record: RecordRef


@dataclass(frozen=True)
class Snooze:
    """``rest``: the last day of the pause and the reason as typed (read like ``ActionDue``)."""

    name: ClassVar[CommandName] = CommandName.SNOOZE
    item: ItemRef
    rest: str


Command = (
    RecordNew | RecordList | RecordShow | RecordEdit | RecordClose | RecordExport | ActionAdd | ActionDone | Progress
    | Escalate | Report | DeptSet | DeptList | Settings | Board | Help | Export | ResourceApprove | ResourceReject
    | ActionDue | ActionOwner | ActionCancel | ActionEdit | RecordReopen | RecordWithdraw | RecordNotify | RecordHistory
    | Remind | Snooze
)  # fmt: skip


# ---------------------------------------------------------------- errors


class Problem(StrEnum):
    EMPTY = "empty"
    UNKNOWN_COMMAND = "unknown_command"
    MISSING_SUBCOMMAND = "missing_subcommand"
    MISSING_ARGUMENT = "missing_argument"
    BAD_REFERENCE = "bad_reference"
    BAD_PERCENT = "bad_percent"
    BAD_MONTH = "bad_month"
    BAD_MENTION = "bad_mention"
    BAD_FILTER = "bad_filter"
    BAD_FORMAT = "bad_format"


PROBLEM_TEXT = {
    Problem.EMPTY: ("请输入命令，例如 /record new 订单系统数据延迟。", "Type a command, e.g. /record new Order sync delay."),
    Problem.UNKNOWN_COMMAND: ("不认识的命令“{token}”。", 'Unknown command "{token}".'),
    Problem.MISSING_SUBCOMMAND: ("“{token}”后面还需要子命令：{choices}。", '"{token}" needs a sub-command: {choices}.'),
    Problem.MISSING_ARGUMENT: ("缺少{what}。", "Missing {what}."),
    Problem.BAD_REFERENCE: ("“{token}”不是有效的编号，这里需要{what}。", '"{token}" is not a valid reference; expected {what}.'),
    Problem.BAD_PERCENT: ("进度百分比应在 0 到 100 之间且为整数，收到“{token}”。",
                          'Progress must be a whole percent from 0 to 100, got "{token}".'),
    Problem.BAD_MONTH: ("“{token}”不是有效的月份，请写成 2026-03 或 2026年3月。",
                        '"{token}" is not a month; write 2026-03.'),
    Problem.BAD_MENTION: ("“{token}”需要 @ 一个人。", '"{token}" must @-mention a person.'),
    Problem.BAD_FILTER: ("不认识的筛选“{token}”，可用：进行中、已延期、已闭环、我的。",
                         'Unknown filter "{token}"; use open, delayed, closed or mine.'),
    Problem.BAD_FORMAT: ("不支持的格式“{token}”，这里可用{what}。", 'Unknown format "{token}"; use {what}.'),
}  # fmt: skip
EXPECTED = {
    "record": ("记录编号（如 R12）", "a record reference (e.g. R12)"),
    "item": ("任务编号（如 R12-2）", "an item reference (e.g. R12-2)"),
    "target": ("记录或任务编号（如 R12 或 R12-2）", "a record or item reference (e.g. R12 or R12-2)"),
    "verification": ("验证结果", "the verification result"),
    "text": ("进度内容", "the progress text"),
    "department": ("部门名称", "the department name"),
    "lead": ("负责人（lead @某人）", "the lead (lead @someone)"),
    "director": ("总监（director @某人）", "the director (director @someone)"),
    "value": ("“{token}”的值", 'a value for "{token}"'),
    "record_format": ("：excel（xlsx）、word（docx）或 md", "xlsx (excel), docx (word) or md"),
    "list_format": ("：excel（xlsx）或 csv", "xlsx (excel) or csv"),
    "reason": ("原因", "the reason"),
    "when": ("日期（如 12月4日、下周五）和原因", "the date (e.g. 2026-12-04, next friday) and the reason"),
    "owner": ("新的责任人（@某人）", "the new owner (@someone)"),
    "page": ("页码", "a page number"),
}  # fmt: skip


class UsageError(ValueError):
    """A command the grammar cannot take; ``message(lang)`` says why and how to write it."""

    def __init__(self, key: Problem, *, command: CommandName | None = None, token: str = "",
                 nearest: str | None = None, expected: str | None = None) -> None:  # fmt: skip
        self.key = key
        self.command = command
        self.token = token
        self.nearest = nearest
        self.expected = expected
        super().__init__(self.message("en"))

    def message(self, lang: str = "zh-CN") -> str:
        en = _english(lang)
        token = self.token if len(self.token) <= 40 else self.token[:40] + "…"
        what = EXPECTED[self.expected][en].format(token=token) if self.expected else ""
        text = PROBLEM_TEXT[self.key][en].format(token=token, what=what, choices=_sub_words(token, en))
        if self.nearest:
            text += f" Did you mean {self.nearest}?" if en else f"您是不是想输入 {self.nearest}？"
        if self.command is not None:
            return text + (" Usage: " if en else "用法：") + usage(self.command, lang)
        return text + (" Send /help to see all commands." if en else "发送 /help 查看全部命令。")


def usage(name: CommandName, lang: str = "zh-CN") -> str:
    return SPECS[name].usage(lang)


def _english(lang: str) -> bool:
    return str(lang).lower().startswith("en")


def _sub_words(group_word: str, en: bool) -> str:
    group = GROUPS.get(group_word.lower())
    subs = [p.split()[1] for spec in COMMANDS for p in spec.english if p.startswith(f"{group} ")]
    chinese = {english: word for word, english in reversed(SUB_WORDS.items())}
    return ", ".join(subs) if en else "、".join(chinese.get(s, s) for s in subs)


# ---------------------------------------------------------------- parsing

MENTION = re.compile(r"<@([^<>\s]+)>")
TOKEN = re.compile(r"<@[^<>\s]+>|(?:(?!<@[^<>\s]+>)\S)+")  # a mention is a word of its own, even glued on
RECORD_REF = re.compile(r"#?R([0-9]{1,9})", re.IGNORECASE)
ITEM_REF = re.compile(r"#?R([0-9]{1,9})[-–—]([0-9]{1,4})", re.IGNORECASE)
GLUED_PERCENT = re.compile(r"(.*\S)\((百分之\S+|[0-9.]+\s*%)\)")  # folded: （60%） is (60%)
MONTH = re.compile(r"(?P<year>[0-9]{4})(?:[-/.]|年)(?P<month>[0-9]{1,2})月?|(?P<alone>[0-9]{1,2})月")
CHINESE_MONTH = re.compile(r"(?:(?P<year>[0-9]{4})年)?(?P<month>[一二三四五六七八九十]{1,3})月")
FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20, 0x200B: 0x20, 0xFEFF: 0x20}


def fold(text: str) -> str:
    """Full-width ASCII and the ideographic space to plain ASCII, one character for one."""
    return text.translate(FULL_WIDTH)


def mentions_in(text: str) -> list[Mention]:
    return [Mention(m.group(1)) for m in MENTION.finditer(text if isinstance(text, str) else "")]


def parse_command(text: str, names: Mapping[str, str] | None = None) -> Command:
    """``names``: the people really @-mentioned (id → display name). Only their ``<@id>`` tokens are mentions;
    anything else that looks like one is text a person typed. Without ``names``, every token counts (tests)."""
    original = text if isinstance(text, str) else ""
    folded = fold(original)
    start = re.match(r"[\s,:;、]*/?", folded).end()  # type: ignore[union-attr]  # matches even "": a lead-in and one slash
    spans = _unglue(folded, [m.span() for m in TOKEN.finditer(folded, start)])
    if not spans:
        raise UsageError(Problem.EMPTY)
    words = [folded[a:b] for a, b in spans]
    name, used = _resolve(words)
    return PARSERS[name](_Args(name, original, folded, spans[used:], names))


def _unglue(folded: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Split a Chinese command word from an argument typed right after it (查看R12)."""
    if not spans:
        return spans
    a, b = spans[0]
    word = folded[a:b]
    if word.isascii() or word in PHRASES or word in GROUPS:
        return spans
    prefix = next((p for p in GLUED if word.startswith(p) and len(word) > len(p)), None)
    return [(a, a + len(prefix)), (a + len(prefix), b), *spans[1:]] if prefix else spans


def _resolve(words: list[str]) -> tuple[CommandName, int]:
    """The command the first words name, and how many words that took."""
    group = GROUPS.get(words[0].lower())
    if group and len(words) > 1 and (name := PHRASES.get(_phrase_key(words[:2]))):
        return name, 2
    if name := PHRASES.get(_phrase_key(words[:1])):
        return name, 1
    if group and len(words) == 1:
        raise UsageError(Problem.MISSING_SUBCOMMAND, token=words[0])
    typed = " ".join(words[:2] if group else words[:1])
    raise UsageError(Problem.UNKNOWN_COMMAND, token=typed, nearest=_nearest(words))


def _nearest(words: list[str]) -> str | None:
    """The closest command word, offered in the language the user typed."""
    chinese = not words[0].isascii()
    candidates = {p: spec for spec in COMMANDS for p in (spec.chinese if chinese else spec.english)}
    typed = {" ".join(words[:2]).lower()[:40], words[0].lower()[:40]}
    score, phrase = max((difflib.SequenceMatcher(None, t, c).ratio(), c) for t in typed for c in candidates)
    if score < (0.5 if chinese else 0.6):
        return None
    spec = candidates[phrase]
    return spec.chinese[0] if chinese else "/" + spec.english[0]


class _Args:
    """The words after the command; free text is cut from the original at the folded words' offsets."""

    def __init__(
        self, name: CommandName, original: str, folded: str, spans: list[tuple[int, int]],
        names: Mapping[str, str] | None,
    ) -> None:  # fmt: skip
        self.name, self.original, self.spans, self.names = name, original, spans, names
        self.words = [folded[a:b] for a, b in spans]

    def person(self, word: str) -> Mention | None:
        """The person a word @-mentions: a mention token of someone really mentioned."""
        match = MENTION.fullmatch(word)
        if match is None or (self.names is not None and match.group(1) not in self.names):
            return None
        return Mention(match.group(1))

    def text(self, first: int, stop: int | None = None) -> str:
        """Free text as typed, except that a person @-mentioned in it is written ``@name``: text, not a mention."""
        spans = self.spans[first:stop]
        typed = self.original[spans[0][0] : spans[-1][1]] if spans else ""
        known = self.names

        def named(match: re.Match[str]) -> str:
            if known is not None and match.group(1) not in known:
                return match.group(0)  # typed as it looks, by a person: not a mention
            return "@" + (known or {}).get(match.group(1), match.group(1))

        return MENTION.sub(named, typed)

    def fail(self, key: Problem, **details: str) -> UsageError:
        return UsageError(key, command=self.name, **details)

    def ref(self, index: int, expected: str) -> RecordRef | ItemRef:
        if index >= len(self.words):
            raise self.fail(Problem.MISSING_ARGUMENT, expected=expected)
        found = _reference(self.words[index])
        kinds = {"record": (RecordRef,), "item": (ItemRef,)}.get(expected, (RecordRef, ItemRef))
        if not isinstance(found, kinds):
            raise self.fail(Problem.BAD_REFERENCE, token=self.words[index], expected=expected)
        return found

    def record(self, index: int) -> RecordRef:
        return cast(RecordRef, self.ref(index, "record"))

    def item(self, index: int) -> ItemRef:
        return cast(ItemRef, self.ref(index, "item"))


def _reference(token: str) -> RecordRef | ItemRef | None:
    if match := ITEM_REF.fullmatch(token):
        record_id, seq = int(match.group(1)), int(match.group(2))
        return ItemRef(record_id, seq) if record_id > 0 and seq > 0 else None
    if match := RECORD_REF.fullmatch(token):
        return RecordRef(int(match.group(1))) if int(match.group(1)) > 0 else None
    return None


def _percent(token: str) -> int | None:
    """60%, 60％, （60%）, 百分之六十 → 60; None when the token is no percent; UsageError when out of 0..100."""
    try:
        return read_percent(token)
    except PercentError:
        raise UsageError(Problem.BAD_PERCENT, command=CommandName.PROGRESS, token=token) from None


def _record_new(args: _Args) -> Command:
    return RecordNew(args.text(0) or None)


def _record_list(args: _Args) -> Command:
    word = args.words[0].lower() if args.words else "open"
    if word not in FILTERS:
        raise args.fail(Problem.BAD_FILTER, token=args.words[0])
    return RecordList(FILTERS[word])


def _record_close(args: _Args) -> Command:
    record, verification = args.record(0), args.text(1)
    if not verification:
        raise args.fail(Problem.MISSING_ARGUMENT, expected="verification")
    return RecordClose(record, verification)


def _progress(args: _Args) -> Command:
    """The percent is the last word (``修复 60%``, ``修复 60 %``, ``修复（60%）``) or the first (``50% 修复``)."""
    item, first, stop, percent = args.item(0), 1, len(args.words), None
    if stop > 1:
        glued_sign = stop > 2 and args.words[-1] in ("%", "%)")  # "60 %", "(60 %)"
        tail = args.words[-2] + args.words[-1] if glued_sign else args.words[-1]
        percent = _percent(tail)
        stop -= (2 if glued_sign else 1) if percent is not None else 0
        if percent is None and stop > 2:
            percent = _percent(args.words[1])
            first += percent is not None
    text, suffix = args.text(first, stop), None
    if percent is None and (glued := GLUED_PERCENT.fullmatch(args.words[-1])):  # 修复（60%）
        percent, suffix = _percent(glued.group(2)), glued.group(2)
        text = text[: len(text) - len(suffix) - 2].rstrip()
    if not text:
        raise args.fail(Problem.MISSING_ARGUMENT, expected="text")
    return Progress(item, text, percent)


def _report(args: _Args) -> Command:
    words = [w for w in args.words if w.lower() not in ALL_WORDS]
    year, month, months_ago = _month(args, words)
    return Report(year, month, workspace=len(words) < len(args.words), months_ago=months_ago)


def _month(args: _Args, words: list[str]) -> tuple[int | None, int | None, int]:
    """(year, month, months ago) from 2026-03, 2026年3月, 3月, 三月, 3月份, 本月, 上个月 — or nothing: this month."""
    if not words:
        return None, None, 0
    joined = "".join(words).removesuffix("份")  # "2026 年 3 月", "3月份"
    if joined in RELATIVE_MONTHS:
        return None, None, RELATIVE_MONTHS[joined]
    match = MONTH.fullmatch(words[0]) or MONTH.fullmatch(joined)
    year = int(match.group("year")) if match and match.group("year") else None
    month = int(match.group("month") or match.group("alone")) if match else 0
    if not match and (spoken := CHINESE_MONTH.fullmatch(joined)):
        year = int(spoken.group("year")) if spoken.group("year") else None
        month = chinese_number(spoken.group("month")) or 0
    if not 1 <= month <= 12 or (year is not None and not 2000 <= year <= 2099):
        raise args.fail(Problem.BAD_MONTH, token=" ".join(words))
    return year, month, 0


def _record_export(args: _Args) -> Command:
    """``导出 R12 excel``; ``导出 全部 …`` is the list export (as ``导出全部``)."""
    if args.words and args.words[0].lower() in ALL_WORDS:
        return _export(_Args(CommandName.EXPORT, args.original, fold(args.original), args.spans[1:], args.names))
    record = args.record(0)
    if len(args.words) < 2:
        return RecordExport(record)
    chosen = RECORD_FORMATS.get(args.words[1].lower().lstrip("."))
    if chosen is None or len(args.words) > 2:
        raise args.fail(Problem.BAD_FORMAT, token=" ".join(args.words[1:]), expected="record_format")
    return RecordExport(record, chosen)


def _export(args: _Args) -> Command:
    formats = [LIST_FORMATS[w.lower().lstrip(".")] for w in args.words if w.lower().lstrip(".") in LIST_FORMATS]
    rest = [w for w in args.words if w.lower().lstrip(".") not in LIST_FORMATS and w.lower() not in ALL_WORDS]
    if len(formats) > 1:
        raise args.fail(Problem.BAD_FORMAT, token=" ".join(args.words), expected="list_format")
    try:
        year, month, months_ago = _month(args, rest)
    except UsageError:
        if len(rest) == 1 and not any(c.isdigit() for c in rest[0]) and "月" not in rest[0]:
            raise args.fail(Problem.BAD_FORMAT, token=rest[0], expected="list_format") from None
        raise
    return Export(year, month, formats[0] if formats else ExportFormat.XLSX, months_ago)


def _resource_decision(args: _Args) -> Command:
    """``批准 R12``, ``批准 R12 1``, ``驳回 R12 第2项 预算已用完``."""
    record, number, first_note = args.record(0), None, 1
    if len(args.words) > 1 and (match := re.fullmatch(r"(?:#|第)?([0-9]{1,3})(?:项|条)?", args.words[1])):
        number, first_note = int(match.group(1)), 2
    note = args.text(first_note) or None
    if args.name is CommandName.RESOURCE_APPROVE:
        return ResourceApprove(record, number, note)
    if not note:  # a rejection says why (issue 11: 驳回 R12 [n] <原因>)
        raise args.fail(Problem.MISSING_ARGUMENT, expected="reason")
    return ResourceReject(record, number, note)


def _dept_set(args: _Args) -> Command:
    words = args.words
    cut = next((i for i, w in enumerate(words) if w.lower() in ROLES or args.person(w)), len(words))
    if cut == 0:
        raise args.fail(Problem.MISSING_ARGUMENT, expected="department")
    people: dict[str, Mention] = {}
    rest = words[cut:]
    if rest and args.person(rest[0]):
        rest = ["lead", *rest]  # 部门 设置 技术部 @x: the lead
    while rest:
        role = ROLES.get(rest[0].lower())
        if role is None:
            raise args.fail(Problem.BAD_MENTION, token=rest[0])
        if len(rest) < 2:
            raise args.fail(Problem.MISSING_ARGUMENT, expected=role)
        if not (person := args.person(rest[1])):
            raise args.fail(Problem.BAD_MENTION, token=rest[1], expected=role)
        people[role], rest = person, rest[2:]
    if "lead" not in people:
        raise args.fail(Problem.MISSING_ARGUMENT, expected="lead")
    return DeptSet(args.text(0, cut), people["lead"], people.get("director"))


def _settings(args: _Args) -> Command:
    words = [part for w in args.words for part in w.partition("=")[::2] if part] if args.words else []
    if len(words) % 2:
        raise args.fail(Problem.MISSING_ARGUMENT, token=words[-1], expected="value")
    return Settings(tuple(zip(words[::2], words[1::2], strict=True)))


def _help(args: _Args) -> Command:
    """``/help close`` is enough: a bare sub-word is tried after each group word."""
    words = [w.lstrip("/") for w in args.words if w.lstrip("/")]
    attempts = [(words, 1)] + [([group, *words], 2) for group in ("record", "action", "dept")] if words else []
    for attempt, least in attempts:
        try:
            name, used = _resolve(attempt)
        except UsageError:
            continue
        if used >= least:
            return Help(name)
    return Help(None)


def _item_with(expected: str, make: type) -> Callable[[_Args], Command]:
    """An item and the free text after it, which must be there (a date and reason, a reason)."""

    def parse(args: _Args) -> Command:
        item, rest = args.item(0), args.text(1)
        if not rest:
            raise args.fail(Problem.MISSING_ARGUMENT, expected=expected)
        return make(item, rest)

    return parse


def _action_owner(args: _Args) -> Command:
    item = args.item(0)
    if len(args.words) < 2:
        raise args.fail(Problem.MISSING_ARGUMENT, expected="owner")
    if (person := args.person(args.words[1])) is None:  # only someone really @-mentioned
        raise args.fail(Problem.BAD_MENTION, token=args.words[1], expected="owner")
    return ActionOwner(item, person, args.text(2) or None)


def _record_reopen(args: _Args) -> Command:
    record, reason = args.record(0), args.text(1)
    if not reason:
        raise args.fail(Problem.MISSING_ARGUMENT, expected="reason")
    return RecordReopen(record, reason)


def _record_history(args: _Args) -> Command:
    record = args.record(0)
    if len(args.words) < 2:
        return RecordHistory(record)
    page = re.fullmatch(r"(?:p|page|第)?([0-9]{1,4})页?", args.words[1].lower())
    if not page or int(page.group(1)) < 1:
        raise args.fail(Problem.BAD_REFERENCE, token=args.words[1], expected="page")
    return RecordHistory(record, int(page.group(1)))


PARSERS = {
    CommandName.RECORD_NEW: _record_new,
    CommandName.RECORD_LIST: _record_list,
    CommandName.RECORD_SHOW: lambda args: RecordShow(args.record(0)),
    CommandName.RECORD_EDIT: lambda args: RecordEdit(args.record(0)),
    CommandName.RECORD_CLOSE: _record_close,
    CommandName.RECORD_EXPORT: _record_export,
    CommandName.ACTION_ADD: lambda args: ActionAdd(args.record(0)),
    CommandName.ACTION_DONE: lambda args: ActionDone(args.item(0), args.text(1) or None),
    CommandName.PROGRESS: _progress,
    CommandName.ESCALATE: lambda args: Escalate(args.ref(0, "target"), args.text(1) or None),
    CommandName.REPORT: _report,
    CommandName.DEPT_SET: _dept_set,
    CommandName.DEPT_LIST: lambda args: DeptList(),
    CommandName.SETTINGS: _settings,
    CommandName.BOARD: lambda args: Board(),
    CommandName.HELP: _help,
    CommandName.EXPORT: _export,
    CommandName.RESOURCE_APPROVE: _resource_decision,
    CommandName.RESOURCE_REJECT: _resource_decision,
    CommandName.ACTION_DUE: _item_with("when", ActionDue),
    CommandName.ACTION_OWNER: _action_owner,
    CommandName.ACTION_CANCEL: _item_with("reason", ActionCancel),
    CommandName.ACTION_EDIT: lambda args: ActionEdit(args.item(0)),
    CommandName.RECORD_REOPEN: _record_reopen,
    CommandName.RECORD_WITHDRAW: lambda args: RecordWithdraw(args.record(0), args.text(1) or None),
    CommandName.RECORD_NOTIFY: lambda args: RecordNotify(args.record(0)),
    CommandName.RECORD_HISTORY: _record_history,
    CommandName.REMIND: lambda args: Remind(args.record(0)),
    CommandName.SNOOZE: _item_with("when", Snooze),
}
