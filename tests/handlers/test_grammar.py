"""The command grammar: every command in English and Chinese, references, mentions, and usage errors."""

from __future__ import annotations

import random

import pytest

from handlers.grammar import (
    COMMANDS,
    ActionAdd,
    ActionDone,
    CommandName,
    DeptList,
    DeptSet,
    Escalate,
    Help,
    ItemRef,
    ListFilter,
    Mention,
    Problem,
    Progress,
    RecordClose,
    RecordEdit,
    RecordExport,
    RecordList,
    RecordNew,
    RecordRef,
    RecordShow,
    Report,
    Settings,
    UsageError,
    mentions_in,
    parse_command,
    usage,
)

R12, R12_2 = RecordRef(12), ItemRef(12, 2)
LI, LIU = Mention("ou_li"), Mention("ou_liu")


@pytest.mark.parametrize(("text", "expected"), [
    ("/record new 订单系统数据延迟", RecordNew("订单系统数据延迟")),
    ("record new 订单系统数据延迟", RecordNew("订单系统数据延迟")),
    ("/record new", RecordNew(None)),
    ("/record list", RecordList(ListFilter.OPEN)),
    ("/record list delayed", RecordList(ListFilter.DELAYED)),
    ("/record list closed", RecordList(ListFilter.CLOSED)),
    ("record list mine", RecordList(ListFilter.MINE)),
    ("/record show R12", RecordShow(R12)),
    ("/record edit R12", RecordEdit(R12)),
    ("/record close R12 delay under 1.5h", RecordClose(R12, "delay under 1.5h")),
    ("/record export R12", RecordExport(R12)),
    ("/action add R12", ActionAdd(R12)),
    ("/action done R12-2", ActionDone(R12_2, None)),
    ("action done R12-2 shipped", ActionDone(R12_2, "shipped")),
    ("/progress R12-2 rewriting the sync job 60%", Progress(R12_2, "rewriting the sync job", 60)),
    ("/progress R12-2 waiting for finance", Progress(R12_2, "waiting for finance", None)),
    ("/escalate R12", Escalate(R12, None)),
    ("/escalate R12-2 purchase stuck", Escalate(R12_2, "purchase stuck")),
    ("/report", Report(None, None)),
    ("/report 2026-03", Report(2026, 3)),
    ("/dept set Tech lead <@ou_li> director <@ou_liu>", DeptSet("Tech", LI, LIU)),
    ("/dept list", DeptList()),
    ("/dept", DeptList()),
    ("/settings", Settings(())),
    ("/settings prompt 17:30", Settings((("prompt", "17:30"),))),
    ("/settings timezone Europe/Berlin", Settings((("timezone", "Europe/Berlin"),))),
    ("/help", Help(None)),
    ("/help record close", Help(CommandName.RECORD_CLOSE)),
])  # fmt: skip
def test_every_command_in_english(text: str, expected: object) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("新建记录 订单系统数据延迟", RecordNew("订单系统数据延迟")),
    ("/新建记录 订单系统 数据延迟", RecordNew("订单系统 数据延迟")),
    ("新建记录", RecordNew(None)),
    ("记录列表", RecordList(ListFilter.OPEN)),
    ("记录列表 进行中", RecordList(ListFilter.OPEN)),
    ("记录列表 已延期", RecordList(ListFilter.DELAYED)),
    ("记录列表 已闭环", RecordList(ListFilter.CLOSED)),
    ("/记录列表 我的", RecordList(ListFilter.MINE)),
    ("查看 R12", RecordShow(R12)),
    ("编辑 R12", RecordEdit(R12)),
    ("闭环 R12 3月11日监控显示延迟≤1.5小时，投诉量下降15%", RecordClose(R12, "3月11日监控显示延迟≤1.5小时，投诉量下降15%")),
    ("导出 R12", RecordExport(R12)),
    ("新增任务 R12", ActionAdd(R12)),
    ("完成 R12-2", ActionDone(R12_2, None)),
    ("完成 R12-2 已上线", ActionDone(R12_2, "已上线")),
    ("进度 R12-2 脚本改造中 60%", Progress(R12_2, "脚本改造中", 60)),
    ("进度 R12-2 脚本改造中", Progress(R12_2, "脚本改造中", None)),
    ("升级 R12", Escalate(R12, None)),
    ("升级 R12-2 采购卡住", Escalate(R12_2, "采购卡住")),
    ("复盘", Report(None, None)),
    ("复盘 2026年3月", Report(2026, 3)),
    ("复盘 2026/03", Report(2026, 3)),
    ("部门 设置 技术部 负责人 <@ou_li> 总监 <@ou_liu>", DeptSet("技术部", LI, LIU)),
    ("部门 设置 财务部 负责人 <@ou_li>", DeptSet("财务部", LI, None)),
    ("部门 列表", DeptList()),
    ("部门", DeptList()),
    ("设置", Settings(())),
    ("设置 提醒时间 17:30", Settings((("提醒时间", "17:30"),))),
    ("帮助", Help(None)),
    ("帮助 闭环", Help(CommandName.RECORD_CLOSE)),
])  # fmt: skip
def test_every_command_in_chinese(text: str, expected: object) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("/record 新建 订单", RecordNew("订单")),
    ("/记录 新建 订单", RecordNew("订单")),
    ("记录 new 订单", RecordNew("订单")),
    ("/任务 完成 R12-2", ActionDone(R12_2, None)),
    ("/dept 设置 技术部 lead <@ou_li>", DeptSet("技术部", LI, None)),
    ("/部门 set 技术部 负责人 <@ou_li>", DeptSet("技术部", LI, None)),
])  # fmt: skip
def test_group_and_sub_words_mix_the_two_languages(text: str, expected: object) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("/RECORD NEW Sync delay", RecordNew("Sync delay")),
    ("/Record Show r12", RecordShow(R12)),
    ("/record show #R12", RecordShow(R12)),
    ("/PROGRESS r12-2 done soon 90%", Progress(R12_2, "done soon", 90)),
    ("/record list MINE", RecordList(ListFilter.MINE)),
    ("／ｒｅｃｏｒｄ　ｓｈｏｗ　Ｒ１２", RecordShow(R12)),
    ("／新建记录　订单系统", RecordNew("订单系统")),
    ("进度 R12-2 脚本改造中 60％", Progress(R12_2, "脚本改造中", 60)),
    ("进度　Ｒ１２－２　改造中　６０％", Progress(R12_2, "改造中", 60)),
    ("  /record show R12  ", RecordShow(R12)),
    ("/ record show R12", RecordShow(R12)),
    ("，新建记录 订单", RecordNew("订单")),
])  # fmt: skip
def test_case_full_width_forms_and_stray_spacing(text: str, expected: object) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("查看R12", RecordShow(R12)),
    ("进度R12-2 改造中", Progress(R12_2, "改造中", None)),
    ("新建记录订单系统延迟", RecordNew("订单系统延迟")),
    ("记录新建 订单", RecordNew("订单")),
    ("复盘2026年3月", Report(2026, 3)),
    ("部门设置 技术部 负责人<@ou_li>", DeptSet("技术部", LI, None)),
])  # fmt: skip
def test_chinese_words_glued_to_their_argument(text: str, expected: object) -> None:
    assert parse_command(text) == expected


def test_free_text_keeps_the_users_spacing_and_punctuation_and_names_people_as_text() -> None:
    given = "闭环 R12 监控显示  延迟≤1.5小时，\n<@ou_li> 已确认（Ａ类）"
    names = {"ou_li": "李娜"}
    assert parse_command(given, names) == RecordClose(R12, "监控显示  延迟≤1.5小时，\n@李娜 已确认（Ａ类）")
    assert parse_command("/record new  订单　系统 ") == RecordNew("订单　系统")
    assert parse_command("进度 R12-2 等待 <@ou_li> 审批", names) == Progress(R12_2, "等待 @李娜 审批", None)
    assert parse_command("升级 R12 <@ou_li>未回复") == Escalate(R12, "@ou_li未回复"), "no name known: the id"


@pytest.mark.parametrize(("text", "percent", "progress_text"), [
    ("进度 R12-2 修复 0%", 0, "修复"),
    ("进度 R12-2 修复 100%", 100, "修复"),
    ("进度 R12-2 修复 60 %", 60, "修复"),
    ("进度 R12-2 修复 百分之60", 60, "修复"),
    ("进度 R12-2 修复 百分之六十五", 65, "修复"),
    ("进度 R12-2 修复 百分之百", 100, "修复"),
    ("进度 R12-2 60% 已完成一半", 60, "已完成一半"),  # issue 11: a leading percent is read too
    ("进度 R12-2 投诉下降15%", None, "投诉下降15%"),
])  # fmt: skip
def test_a_percent_counts_as_the_last_or_the_first_word(text: str, percent: int | None, progress_text: str) -> None:
    assert parse_command(text) == Progress(R12_2, progress_text, percent)


@pytest.mark.parametrize(("text", "expected"), [
    ("/report 2026-3", Report(2026, 3)), ("/report 2026.12", Report(2026, 12)), ("复盘 2026年03月", Report(2026, 3)),
    ("复盘 2026 年 3 月", Report(2026, 3)), ("复盘 3月", Report(None, 3)),
    ("/settings prompt=17:30 warning_days 2", Settings((("prompt", "17:30"), ("warning_days", "2")))),
    ("/help close", Help(CommandName.RECORD_CLOSE)), ("/help done", Help(CommandName.ACTION_DONE)),
    ("/help /progress", Help(CommandName.PROGRESS)), ("/help whatever", Help(None)), ("/help record", Help(None)),
    ("/dept set Customer Service lead <@ou_li>", DeptSet("Customer Service", LI, None)),
    ("部门 设置 技术部 <@ou_li>", DeptSet("技术部", LI, None)),
    ("/escalate r12-2", Escalate(R12_2, None)),
])  # fmt: skip
def test_friendlier_spellings(text: str, expected: object) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(("text", "key", "command", "token"), [
    ("/record close R12", Problem.MISSING_ARGUMENT, CommandName.RECORD_CLOSE, ""),
    ("/record show", Problem.MISSING_ARGUMENT, CommandName.RECORD_SHOW, ""),
    ("/progress R12-2 60%", Problem.MISSING_ARGUMENT, CommandName.PROGRESS, ""),
    ("/progress R12-2", Problem.MISSING_ARGUMENT, CommandName.PROGRESS, ""),
    ("/progress R12-2 修复 150%", Problem.BAD_PERCENT, CommandName.PROGRESS, "150%"),
    ("/progress R12-2 修复 -5%", Problem.BAD_PERCENT, CommandName.PROGRESS, "-5%"),
    ("/progress R12-2 修复 60.5%", Problem.BAD_PERCENT, CommandName.PROGRESS, "60.5%"),
    ("/action done R12", Problem.BAD_REFERENCE, CommandName.ACTION_DONE, "R12"),
    ("/action add R12-2", Problem.BAD_REFERENCE, CommandName.ACTION_ADD, "R12-2"),
    ("/record show 12x", Problem.BAD_REFERENCE, CommandName.RECORD_SHOW, "12x"),
    ("/record show R0", Problem.BAD_REFERENCE, CommandName.RECORD_SHOW, "R0"),
    ("/escalate R12-0", Problem.BAD_REFERENCE, CommandName.ESCALATE, "R12-0"),
    ("/report 2026-13", Problem.BAD_MONTH, CommandName.REPORT, "2026-13"),
    ("/report 1999-01", Problem.BAD_MONTH, CommandName.REPORT, "1999-01"),
    ("复盘 下个月", Problem.BAD_MONTH, CommandName.REPORT, "下个月"),
    ("/dept set 技术部 lead bob", Problem.BAD_MENTION, CommandName.DEPT_SET, "bob"),
    ("/dept set 技术部 lead", Problem.MISSING_ARGUMENT, CommandName.DEPT_SET, ""),
    ("/dept set 技术部", Problem.MISSING_ARGUMENT, CommandName.DEPT_SET, ""),
    ("/dept set 技术部 director <@ou_liu>", Problem.MISSING_ARGUMENT, CommandName.DEPT_SET, ""),
    ("/dept set lead <@ou_li>", Problem.MISSING_ARGUMENT, CommandName.DEPT_SET, ""),
    ("/record list someday", Problem.BAD_FILTER, CommandName.RECORD_LIST, "someday"),
    ("/settings prompt", Problem.MISSING_ARGUMENT, CommandName.SETTINGS, "prompt"),
])  # fmt: skip
def test_mistakes_name_the_problem_and_the_usage(text: str, key: Problem, command: CommandName, token: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_command(text)
    error = caught.value
    assert (error.key, error.command, error.token) == (key, command, token)
    assert error.message().endswith("用法：" + usage(command))
    assert error.message("en").endswith("Usage: " + usage(command, "en"))


@pytest.mark.parametrize(("text", "token", "nearest"), [
    ("/recrod new x", "recrod", "/record new"),
    ("/record neww x", "record neww", "/record new"),
    ("/hlep", "hlep", "/help"),
    ("/progres R12-2 x", "progres", "/progress"),
    ("新见记录 订单", "新见记录", "新建记录"),
    ("/记录 新见 订单", "记录 新见", "新建记录"),
    ("今天天气不错", "今天天气不错", None),
    ("R12", "R12", None),
])  # fmt: skip
def test_an_unknown_command_suggests_the_nearest_in_the_language_typed(
    text: str, token: str, nearest: str | None
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_command(text)
    error = caught.value
    assert (error.key, error.command, error.token, error.nearest) == (Problem.UNKNOWN_COMMAND, None, token, nearest)
    if nearest:
        assert f"您是不是想输入 {nearest}？" in error.message() and f"Did you mean {nearest}?" in error.message("en")
    assert error.message().endswith("发送 /help 查看全部命令。")


def test_the_messages_read_as_sentences_in_both_languages() -> None:
    def messages(text: str) -> tuple[str, str]:
        with pytest.raises(UsageError) as caught:
            parse_command(text)
        return caught.value.message("zh-CN"), caught.value.message("en")

    assert messages("闭环 R12") == (
        "缺少验证结果。用法：/record close R12 <验证结果>（中文：闭环 R12 <验证结果>）",
        "Missing the verification result. Usage: /record close R12 <verification result>",
    )
    assert messages("/recrod new x") == (
        "不认识的命令“recrod”。您是不是想输入 /record new？发送 /help 查看全部命令。",
        'Unknown command "recrod". Did you mean /record new? Send /help to see all commands.',
    )
    assert messages("/action done R12") == (
        "“R12”不是有效的编号，这里需要任务编号（如 R12-2）。用法：/action done R12-2 [结果]（中文：完成 R12-2 [结果]）",
        '"R12" is not a valid reference; expected an item reference (e.g. R12-2). Usage: /action done R12-2 [result]',
    )
    assert messages("/dept set 技术部 lead bob")[0].startswith("“bob”需要 @ 一个人。用法：/dept set <部门> lead")
    assert messages("/dept set 技术部")[0].startswith("缺少负责人（lead @某人）。")
    assert messages("/progress R12-2 修复 150%")[0].startswith("进度百分比应在 0 到 100 之间且为整数，收到“150%”。")
    assert messages("/report 2026-13")[1].startswith('"2026-13" is not a month; write 2026-03.')
    assert messages("/settings prompt")[0].startswith("缺少“prompt”的值。")
    assert messages("/record") == (
        "“record”后面还需要子命令：新建、列表、查看、编辑、闭环、导出、重新打开、撤回、通知、历史。发送 /help 查看全部命令。",
        '"record" needs a sub-command: new, list, show, edit, close, export, reopen, withdraw, notify, history. '
        "Send /help to see all commands.",
    )
    assert messages("任务")[0].startswith("“任务”后面还需要子命令：新增、完成、改期、转交、取消、编辑。")
    assert str(UsageError(Problem.EMPTY)) == UsageError(Problem.EMPTY).message("en")


@pytest.mark.parametrize("text", ["", "   ", "\u3000\n", "/", "／", "，"])
def test_nothing_to_parse_asks_for_a_command(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_command(text)
    assert caught.value.key is Problem.EMPTY
    assert "/help" in caught.value.message() and "/help" in caught.value.message("en")


def test_a_long_token_is_shortened_in_the_message() -> None:
    with pytest.raises(UsageError) as caught:
        parse_command("x" * 5000)
    assert len(caught.value.message()) < 200


def test_mentions_are_found() -> None:
    assert mentions_in("请 <@ou_a> 和 <@U024BE7LH> 确认，<@ou_a>") == [
        Mention("ou_a"),
        Mention("U024BE7LH"),
        Mention("ou_a"),
    ]
    assert mentions_in("no one here, not even <@ >") == []


def test_references_print_as_people_write_them() -> None:
    assert (str(R12), str(R12_2)) == ("R12", "R12-2")


def test_the_table_covers_every_command_in_both_languages() -> None:
    assert [spec.name for spec in COMMANDS] == list(CommandName)
    for spec in COMMANDS:
        assert spec.english and spec.chinese and spec.about_zh and spec.about_en
        assert usage(spec.name).startswith("/") and "（中文：" in usage(spec.name)
        assert usage(spec.name, "en").startswith("/" + spec.english[0])
        for words in (spec.chinese[0], "/" + spec.english[0]):
            try:
                assert parse_command(words).name is spec.name
            except UsageError as error:
                assert error.command is spec.name
    assert all(parse_command(f"/help {spec.english[0]}") == Help(spec.name) for spec in COMMANDS)
    assert all(parse_command(f"帮助 {spec.chinese[0]}") == Help(spec.name) for spec in COMMANDS)


def test_every_command_names_itself() -> None:
    assert parse_command("/record new x").name is CommandName.RECORD_NEW
    assert DeptSet("技术部", LI, None).name is CommandName.DEPT_SET


JUNK = [
    "/", "//", "@", "<@>", "<@", "<@<@<@", "R", "R-1", "/record", "/record show R0-0", "进度", "\x00", "🙂" * 50,
    "/report 0000-00", "/report 9999-12", "/settings a", "/dept set x director <@y>", "/escalate R1--2", "部门 设置",
    "a" * 5000, "/record close R1 " + " " * 10, "/progress R1-1 " + "9" * 5000 + "%", "/progress R1-1 x 百分之",
    "/progress R1-1 x 百分之十十", "/record show R" + "9" * 5000, "/report " + "9" * 5000, "/help /", "/help " * 50,
    "\ud800", "/record new \udfff", "<@" + "a" * 5000, "／" * 100, "%", "/progress R1-1 %", "设置 =", "设置 a=b=c",
    "{token}", "/record list {what}", "/dept set {x} lead {y}", "/escalate #r", None, 12,
]  # fmt: skip


@pytest.mark.parametrize("text", JUNK)
def test_junk_only_ever_raises_a_usage_error(text: str) -> None:
    try:
        parse_command(text)  # type: ignore[arg-type]
    except UsageError as error:
        assert error.message() and error.message("en")


def test_random_input_only_ever_raises_a_usage_error() -> None:
    alphabet = list("/／ 　rR#-－%％<>@年月百分之十六") + [
        w + " " for spec in COMMANDS for w in (*spec.english, *spec.chinese)
    ]
    alphabet += ["lead ", "负责人 ", "<@ou_x> ", "12", "2026-", "=", "\n", "\u200b"]
    rng = random.Random(20260311)
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        try:
            parse_command(text)
        except UsageError as error:
            assert error.message() and error.message("en")


def test_only_the_people_really_mentioned_are_mentions() -> None:
    """What looks like a mention but was typed as text (``<@U0EVIL>``) stays text; it names nobody."""
    names = {"ou_li": "李娜"}
    assert parse_command("/record new 对账 <@ou_li> <@U0EVIL>", names) == RecordNew("对账 @李娜 <@U0EVIL>")
    with pytest.raises(UsageError):
        parse_command("/dept set 法务部 lead <@U0EVIL>", names)
