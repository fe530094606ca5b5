"""The command grammar: slash commands and ``@bot`` text, in English and Chinese.

Input is neutral text: people's @-mentions are ``<@USER_ID>`` tokens and the
bot's own mention is gone. ``parse_command`` returns one typed dataclass per
command or raises ``UsageError`` (with the usage line and, for a misspelt
command, the nearest one) — never anything else, whatever the input.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import ClassVar


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
    HELP = "help"


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


@dataclass(frozen=True)
class CommandSpec:
    """One row of the command table: words, usage and description in both languages."""

    name: CommandName
    english: tuple[str, ...]  # "record new": the group word and the sub-word
    chinese: tuple[str, ...]
    usage_zh: str
    usage_en: str
    about_zh: str
    about_en: str

    def usage(self, lang: str = "zh-CN") -> str:
        return self.usage_en if lang == "en" else self.usage_zh

    def description(self, lang: str = "zh-CN") -> str:
        return self.about_en if lang == "en" else self.about_zh


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(CommandName.RECORD_NEW, ("record new",), ("新建记录", "记录 新建"),
                "/record new [主题]（新建记录 [主题]）", "/record new [topic]", "新建一条跨部门沟通记录", "open a new record"),
    CommandSpec(CommandName.RECORD_LIST, ("record list",), ("记录列表", "记录 列表"),
                "/record list [open|delayed|closed|mine]（记录列表 [进行中|已延期|已闭环|我的]）",
                "/record list [open|delayed|closed|mine]", "列出本群的记录", "list this group's records"),
    CommandSpec(CommandName.RECORD_SHOW, ("record show",), ("查看", "记录 查看"),
                "/record show R12（查看 R12）", "/record show R12", "查看一条记录", "show a record"),
    CommandSpec(CommandName.RECORD_EDIT, ("record edit",), ("编辑", "记录 编辑"),
                "/record edit R12（编辑 R12）", "/record edit R12", "编辑一条记录", "edit a record"),
    CommandSpec(CommandName.RECORD_CLOSE, ("record close",), ("闭环", "记录 闭环"),
                "/record close R12 <验证结果>（闭环 R12 <验证结果>）", "/record close R12 <verification result>",
                "写明验证结果后闭环", "close a record with its verified result"),
    CommandSpec(CommandName.RECORD_EXPORT, ("record export",), ("导出", "记录 导出"),
                "/record export R12（导出 R12）", "/record export R12", "按模板导出记录", "export a record as a table"),
    CommandSpec(CommandName.ACTION_ADD, ("action add",), ("新增任务", "任务 新增"),
                "/action add R12（新增任务 R12）", "/action add R12", "为记录新增一项任务", "add an action item"),
    CommandSpec(CommandName.ACTION_DONE, ("action done",), ("完成", "任务 完成"),
                "/action done R12-2 [结果]（完成 R12-2 [结果]）", "/action done R12-2 [result]",
                "标记任务完成", "mark an action item done"),
    CommandSpec(CommandName.PROGRESS, ("progress",), ("进度",),
                "/progress R12-2 <进展> [60%]（进度 R12-2 <进展> [60%]）", "/progress R12-2 <text> [60%]",
                "汇报任务进度", "report progress on an item"),
    CommandSpec(CommandName.ESCALATE, ("escalate",), ("升级",),
                "/escalate R12|R12-2 [原因]（升级 R12 [原因]）", "/escalate R12|R12-2 [reason]",
                "升级给部门负责人", "escalate to the department leads"),
    CommandSpec(CommandName.REPORT, ("report",), ("复盘",),
                "/report [YYYY-MM]（复盘 [2026-03]）", "/report [YYYY-MM]", "月度复盘", "the monthly review"),
    CommandSpec(CommandName.DEPT_SET, ("dept set",), ("部门 设置",),
                "/dept set <部门> lead @负责人 [director @分管领导]（部门 设置 <部门> 负责人 @x [总监 @y]）",
                "/dept set <name> lead @x [director @y]", "设置部门负责人", "set a department's lead"),
    CommandSpec(CommandName.DEPT_LIST, ("dept list", "dept"), ("部门 列表", "部门"),
                "/dept list（部门 列表）", "/dept list", "列出部门", "list departments"),
    CommandSpec(CommandName.SETTINGS, ("settings",), ("设置",),
                "/settings [项 值]（设置 提醒时间 17:30）", "/settings [key value]", "查看或修改本群设置",
                "show or change this group's settings"),
    CommandSpec(CommandName.HELP, ("help",), ("帮助",), "/help [命令]（帮助）", "/help [command]", "帮助", "help"),
)  # fmt: skip
SPECS = {spec.name: spec for spec in COMMANDS}


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
    name: ClassVar[CommandName] = CommandName.REPORT
    year: int | None
    month: int | None


@dataclass(frozen=True)
class DeptSet:
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
class Help:
    name: ClassVar[CommandName] = CommandName.HELP
    topic: CommandName | None


Command = (
    RecordNew | RecordList | RecordShow | RecordEdit | RecordClose | RecordExport | ActionAdd | ActionDone | Progress
    | Escalate | Report | DeptSet | DeptList | Settings | Help
)  # fmt: skip


# ---------------------------------------------------------------- errors


class Problem(StrEnum):
    EMPTY = "empty"
    UNKNOWN_COMMAND = "unknown_command"
    MISSING_ARGUMENT = "missing_argument"
    BAD_REFERENCE = "bad_reference"
    BAD_PERCENT = "bad_percent"
    BAD_MONTH = "bad_month"
    BAD_MENTION = "bad_mention"
    BAD_FILTER = "bad_filter"


PROBLEM_TEXT = {
    Problem.EMPTY: ("请输入命令，例如 /record new 订单系统数据延迟；发送 /help 查看全部命令。",
                    "Type a command, e.g. /record new Order sync delay; send /help for all commands."),
    Problem.UNKNOWN_COMMAND: ("不认识的命令“{token}”。", "Unknown command \"{token}\"."),
    Problem.MISSING_ARGUMENT: ("缺少{token}。", "Missing {token}."),
    Problem.BAD_REFERENCE: ("“{token}”不是有效的编号（记录如 R12，任务如 R12-2）。",
                            "\"{token}\" is not a valid reference (a record is R12, an item R12-2)."),
    Problem.BAD_PERCENT: ("进度百分比应在 0 到 100 之间（收到 {token}）。", "Progress must be 0–100% (got {token})."),
    Problem.BAD_MONTH: ("“{token}”不是有效的月份，请写成 2026-03。", "\"{token}\" is not a month; write 2026-03."),
    Problem.BAD_MENTION: ("“{token}”需要 @ 一个人。", "\"{token}\" must @-mention a person."),
    Problem.BAD_FILTER: ("不认识的筛选“{token}”，可用 open/delayed/closed/mine（进行中/已延期/已闭环/我的）。",
                         "Unknown filter \"{token}\"; use open, delayed, closed or mine."),
}  # fmt: skip
ARGUMENT_NAMES = {
    "record": ("记录编号（如 R12）", "a record reference (e.g. R12)"),
    "item": ("任务编号（如 R12-2）", "an item reference (e.g. R12-2)"),
    "verification": ("验证结果", "the verification result"),
    "text": ("进度内容", "the progress text"),
    "department": ("部门名称", "the department name"),
    "lead": ("负责人（lead @某人）", "the lead (lead @someone)"),
}  # fmt: skip


class UsageError(ValueError):
    def __init__(self, problem: Problem, *, command: CommandName | None = None, token: str = "",
                 nearest: str | None = None, argument: str | None = None) -> None:  # fmt: skip
        self.problem = problem
        self.command = command
        self.token = token
        self.nearest = nearest
        self.argument = argument
        super().__init__(self.message("en"))

    def message(self, lang: str = "zh-CN") -> str:
        en = lang == "en"
        token = self.token
        if self.problem is Problem.MISSING_ARGUMENT and self.argument:
            token = ARGUMENT_NAMES[self.argument][1 if en else 0]
        text = PROBLEM_TEXT[self.problem][1 if en else 0].format(token=token)
        if self.nearest:
            text += f" Did you mean {self.nearest}?" if en else f"您是不是想输入 {self.nearest}？"
        if self.command is not None:
            text += (" Usage: " if en else "用法：") + usage(self.command, lang)
        elif self.problem is not Problem.EMPTY:
            text += " Send /help for all commands." if en else "发送 /help 查看全部命令。"
        return text


def usage(name: CommandName, lang: str = "zh-CN") -> str:
    return SPECS[name].usage(lang)


# ---------------------------------------------------------------- parsing

MENTION_TOKEN = re.compile(r"<@([^<>\s]+)>")
RECORD_RE = re.compile(r"#?[Rr](\d{1,9})")
ITEM_RE = re.compile(r"#?[Rr](\d{1,9})-(\d{1,4})")
PERCENT_RE = re.compile(r"(-?\d{1,4})\s*%")
FILTERS = {
    "open": ListFilter.OPEN, "进行中": ListFilter.OPEN, "未闭环": ListFilter.OPEN,
    "delayed": ListFilter.DELAYED, "已延期": ListFilter.DELAYED, "延期": ListFilter.DELAYED,
    "closed": ListFilter.CLOSED, "已闭环": ListFilter.CLOSED, "闭环": ListFilter.CLOSED,
    "mine": ListFilter.MINE, "我的": ListFilter.MINE,
}  # fmt: skip
# Group words accepted before a sub-word, in either language.
GROUPS = {"record": "record", "记录": "record", "action": "action", "任务": "action", "dept": "dept", "部门": "dept"}
SUBWORDS = {
    "new": "new", "新建": "new", "list": "list", "列表": "list", "show": "show", "查看": "show", "edit": "edit",
    "编辑": "edit", "close": "close", "闭环": "close", "export": "export", "导出": "export", "add": "add",
    "新增": "add", "done": "done", "完成": "done", "set": "set", "设置": "set",
}  # fmt: skip


def _words() -> dict[str, CommandName]:
    table: dict[str, CommandName] = {}
    for spec in COMMANDS:
        for phrase in (*spec.english, *spec.chinese):
            table[phrase] = spec.name
    return table


WORDS = _words()


FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def fold(text: str) -> str:
    """Full-width ASCII (／ｒｅｃｏｒｄ, Ｒ１２, ％) and the ideographic space to plain ASCII.

    It keeps every character in its place, so free text (a topic, a result) can be
    cut from the user's original wording at the same offsets.
    """
    return text.translate(FULL_WIDTH)


def _split_head(text: str) -> tuple[str, str, str]:
    """(first word, second word, rest from after the first word) with the original spacing kept in rest."""
    match = re.match(r"(\S+)\s*(.*)", text, re.S)
    if not match:
        return "", "", ""
    first, rest = match.group(1), match.group(2)
    second = rest.split(maxsplit=1)[0] if rest else ""
    return first, second, rest


def _resolve(text: str) -> tuple[CommandName, str, bool]:
    """Which command, the argument text, and whether the user wrote Chinese words."""
    first, second, rest = _split_head(text)
    first_l = first.lower()
    group = GROUPS.get(first_l)
    if group is not None and second:
        sub = SUBWORDS.get(second.lower())
        if sub is not None:
            phrase = f"{group} {sub}"
            if phrase in WORDS:
                return WORDS[phrase], rest[len(second) :].strip(), not first.isascii() or not second.isascii()
    if group == "dept":
        return CommandName.DEPT_LIST, rest.strip(), not first.isascii()
    if first_l in WORDS and " " not in first_l:
        return WORDS[first_l], rest.strip(), not first.isascii()
    candidates = [w for w in WORDS if " " not in w] + [w for w in WORDS if " " in w]
    typed = f"{first_l} {second.lower()}".strip() if group is None and second and first.isascii() else first_l
    close = difflib.get_close_matches(typed, candidates, n=1, cutoff=0.6) or difflib.get_close_matches(
        first_l, candidates, n=1, cutoff=0.6
    )
    nearest = None
    if close:
        spec = SPECS[WORDS[close[0]]]
        nearest = spec.chinese[0] if not first.isascii() else "/" + spec.english[0]
    raise UsageError(Problem.UNKNOWN_COMMAND, token=first, nearest=nearest)


def _record(token: str, command: CommandName) -> RecordRef:
    match = RECORD_RE.fullmatch(token)
    if not match:
        raise UsageError(Problem.BAD_REFERENCE, command=command, token=token)
    return RecordRef(int(match.group(1)))


def _item(token: str, command: CommandName) -> ItemRef:
    match = ITEM_RE.fullmatch(token)
    if not match or int(match.group(2)) == 0:
        raise UsageError(Problem.BAD_REFERENCE, command=command, token=token)
    return ItemRef(int(match.group(1)), int(match.group(2)))


def _take(args: str, command: CommandName, argument: str) -> tuple[str, str]:
    parts = args.split(maxsplit=1)
    if not parts:
        raise UsageError(Problem.MISSING_ARGUMENT, command=command, argument=argument)
    return parts[0], (parts[1] if len(parts) > 1 else "")


def _mention(token: str, command: CommandName) -> Mention:
    match = MENTION_TOKEN.fullmatch(token)
    if not match:
        raise UsageError(Problem.BAD_MENTION, command=command, token=token)
    return Mention(match.group(1))


FREE_TEXT = ("topic", "verification", "result", "text", "reason")


def parse_command(text: str) -> Command:
    original = (text or "").strip()
    folded = fold(original)
    start = 1 if folded.startswith("/") else 0
    body = folded[start:].lstrip()
    if not body:
        raise UsageError(Problem.EMPTY)
    name, args, _ = _resolve(body)
    command = PARSERS[name](args, name)
    return _with_original_text(command, folded, original)


def _with_original_text(command: Command, folded: str, original: str) -> Command:
    """Free-text arguments as the user wrote them (full-width punctuation kept)."""
    changes = {}
    for field in FREE_TEXT:
        value = getattr(command, field, None)
        if isinstance(value, str) and value:
            at = folded.rfind(value)
            changes[field] = original[at : at + len(value)] if at >= 0 else value
    return replace(command, **changes) if changes else command


def _record_new(args: str, name: CommandName) -> Command:
    return RecordNew(args or None)


def _record_list(args: str, name: CommandName) -> Command:
    if not args:
        return RecordList(ListFilter.OPEN)
    word = args.split()[0].lower()
    if word not in FILTERS:
        raise UsageError(Problem.BAD_FILTER, command=name, token=word)
    return RecordList(FILTERS[word])


def _one_record(cls: type) -> object:
    def parse(args: str, name: CommandName) -> Command:
        token, _ = _take(args, name, "record")
        return cls(_record(token, name))

    return parse


def _record_close(args: str, name: CommandName) -> Command:
    token, rest = _take(args, name, "record")
    record = _record(token, name)
    if not rest.strip():
        raise UsageError(Problem.MISSING_ARGUMENT, command=name, argument="verification")
    return RecordClose(record, rest.strip())


def _action_done(args: str, name: CommandName) -> Command:
    token, rest = _take(args, name, "item")
    return ActionDone(_item(token, name), rest.strip() or None)


def _progress(args: str, name: CommandName) -> Command:
    token, rest = _take(args, name, "item")
    item = _item(token, name)
    rest = rest.strip()
    percent = None
    match = re.search(r"(?:^|\s)(?:百分之)?(-?\d{1,4})\s*%?$", rest) if rest.endswith("%") or "百分之" in rest else None
    if match:
        percent = int(match.group(1))
        if not 0 <= percent <= 100:
            raise UsageError(Problem.BAD_PERCENT, command=name, token=f"{percent}%")
        rest = rest[: match.start()].strip()
    if not rest:
        raise UsageError(Problem.MISSING_ARGUMENT, command=name, argument="text")
    return Progress(item, rest, percent)


def _escalate(args: str, name: CommandName) -> Command:
    token, rest = _take(args, name, "record")
    target: RecordRef | ItemRef = _item(token, name) if "-" in token else _record(token, name)
    return Escalate(target, rest.strip() or None)


def _report(args: str, name: CommandName) -> Command:
    if not args:
        return Report(None, None)
    token = args.split()[0]
    match = re.fullmatch(r"(\d{4})(?:[-/.]|年)(\d{1,2})月?", token)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise UsageError(Problem.BAD_MONTH, command=name, token=token)
    return Report(int(match.group(1)), int(match.group(2)))


LEAD_WORDS = {"lead", "负责人", "主管"}
DIRECTOR_WORDS = {"director", "总监", "分管领导"}


def _dept_set(args: str, name: CommandName) -> Command:
    words = args.split()
    if not words:
        raise UsageError(Problem.MISSING_ARGUMENT, command=name, argument="department")
    department, rest = words[0], words[1:]
    lead = director = None
    index = 0
    while index < len(rest):
        word = rest[index].lower()
        if word in LEAD_WORDS | DIRECTOR_WORDS:
            if index + 1 >= len(rest):
                raise UsageError(Problem.BAD_MENTION, command=name, token=rest[index])
            person = _mention(rest[index + 1], name)
            lead, director = (person, director) if word in LEAD_WORDS else (lead, person)
            index += 2
        else:
            raise UsageError(Problem.BAD_MENTION, command=name, token=rest[index])
    if lead is None:
        raise UsageError(Problem.MISSING_ARGUMENT, command=name, argument="lead")
    return DeptSet(department, lead, director)


def _dept_list(args: str, name: CommandName) -> Command:
    return DeptList()


def _settings(args: str, name: CommandName) -> Command:
    words = args.split()
    pairs = tuple((words[i], words[i + 1] if i + 1 < len(words) else "") for i in range(0, len(words), 2))
    for key, value in pairs:
        if not value:
            raise UsageError(Problem.MISSING_ARGUMENT, command=name, token=key, argument=None)
    return Settings(pairs)


def _help(args: str, name: CommandName) -> Command:
    if not args:
        return Help(None)
    try:
        topic, _, _ = _resolve(args.lstrip("/"))
    except UsageError:
        return Help(None)
    return Help(topic)


PARSERS = {
    CommandName.RECORD_NEW: _record_new, CommandName.RECORD_LIST: _record_list,
    CommandName.RECORD_SHOW: _one_record(RecordShow), CommandName.RECORD_EDIT: _one_record(RecordEdit),
    CommandName.RECORD_CLOSE: _record_close, CommandName.RECORD_EXPORT: _one_record(RecordExport),
    CommandName.ACTION_ADD: _one_record(ActionAdd), CommandName.ACTION_DONE: _action_done,
    CommandName.PROGRESS: _progress, CommandName.ESCALATE: _escalate, CommandName.REPORT: _report,
    CommandName.DEPT_SET: _dept_set, CommandName.DEPT_LIST: _dept_list, CommandName.SETTINGS: _settings,
    CommandName.HELP: _help,
}  # fmt: skip


def mentions_in(text: str) -> list[Mention]:
    return [Mention(m.group(1)) for m in MENTION_TOKEN.finditer(text or "")]
