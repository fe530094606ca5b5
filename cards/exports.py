"""Exports people hand to their bosses: one record as the seed's table, and the group's records as a list.

The record is the template's table in the template's row order (沟通主题, 沟通时间,
沟通地点/形式, 参与部门及人员, 问题描述, 沟通要点, 解决方案, 责任人/完成时限, 资源需求,
状态跟踪, 备注, then 记录人, 抄送, 问题类型), built once as rows of lines and written as
Markdown (into the chat), XLSX (openpyxl) or DOCX (python-docx). The list is one row
per action item, as CSV (UTF-8 with a BOM, so Excel reads Chinese) or XLSX.

People are written by name, never as mention markup. Whatever a person typed stays
text: XLSX cells are typed as strings (no formulas), and a CSV cell that a
spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) gets a leading ``'``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from cards.markup import Markup, md, to_plain
from cards.templates import CATALOG, category_text, due_text, status_text
from storage.queries import ExportRow, RecordView
from storage.timekeeping import format_local
from storage.types import ExportFormat, ItemTerm

MIME = {
    ExportFormat.MARKDOWN: "text/markdown; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ExportFormat.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ExportFormat.CSV: "text/csv; charset=utf-8",
}
ROWS = ("topic", "meeting", "place", "participants", "problem", "key_points", "solution", "owners", "resources",
        "status", "notes", "recorder", "cc", "category")  # fmt: skip
PROBLEM_PARTS = ("what", "when", "where", "who", "why", "how")
UNSAFE_FILENAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
if TYPE_CHECKING:  # openpyxl and python-docx are imported when a file is made: half of the bot's start-up otherwise
    from openpyxl import Workbook

HEADER_FILL_COLOUR = "DDEBF7"
EAST_ASIAN_FONT = "宋体"  # present wherever Word or WPS reads Chinese


def t(key: str, lang: str, /, **params: object) -> str:
    """A catalog sentence as plain text: files hold text, never chat markup."""
    return CATALOG.text(key, lang, **params)


@dataclass(frozen=True)
class TableRow:
    key: str
    label: str
    lines: list[str]


def filename(stem: str, fmt: ExportFormat) -> str:
    """A file name people recognise (``R12-订单系统数据延迟.xlsx``), safe on every file system."""
    return f"{UNSAFE_FILENAME.sub('_', stem).strip(' ._')[:80] or 'export'}.{fmt.value}"


# ---------------------------------------------------------------- one record: the template's table


def record_rows(view: RecordView, *, lang: str, zone: ZoneInfo) -> list[TableRow]:
    record = view.record

    def at(instant: datetime | None) -> str:
        return format_local(instant, zone) if instant else ""

    meeting = at(record.meeting_start)
    if record.meeting_start and record.meeting_end:
        end = at(record.meeting_end)
        meeting += "–" + (end[-5:] if end[:10] == meeting[:10] else end)
    participants = [
        t("export.participant", lang, department=p.department.name if p.department else "", name=p.person.display_name,
          authority=_authority(p.row.decision_authority, p.row.resource_authority, lang),
          signed=t("export.signed", lang, at=at(p.row.confirmed_at)) if p.row.confirmed_at else t("export.unsigned", lang))
        for p in view.participants
    ]  # fmt: skip
    problem = [record.problem or ""]
    problem += [t(f"export.5w1h.{part}", lang, text=getattr(record, f"problem_{part}"))
                for part in PROBLEM_PARTS if getattr(record, f"problem_{part}")]  # fmt: skip
    if record.impact:
        problem.append(t("export.impact", lang, text=record.impact))
    if record.root_cause:
        problem.append(t("export.root_cause", lang, text=record.root_cause))
    solution = [
        t("export.solution_line", lang, term=t(f"term.{term.value}", lang), ref=f"{record.ref}-{i.item.seq}",
          description=i.item.description,
          measure=t("export.measure", lang, measure=i.item.measure) if i.item.measure else "")
        for term in ItemTerm for i in view.items if i.item.term is term
    ]  # fmt: skip
    owners = [
        t("export.owner_line", lang, ref=f"{record.ref}-{i.item.seq}", owner=i.owner.display_name,
          department=f"（{i.department.name}）" if i.department else "", due=due_text(i.item.due_at, zone))
        for i in view.items
    ]  # fmt: skip
    resources = [
        t("export.resource_line", lang, what=r.request.what, amount=amount_text(r.request),
          approver=r.approver.display_name if r.approver else t("summary.none", lang),
          decision=t(f"resource_status.{r.request.status.value}", lang),
          decided=_decided(r, lang, at))
        for r in view.resources
    ]  # fmt: skip
    status = [status_text(record.status, lang) + (f"（{at(record.closed_at)}）" if record.closed_at else "")]
    for i in view.items:
        outcome = i.item.result or i.item.cancel_reason or ""
        status.append(
            t("export.item_status", lang, ref=f"{record.ref}-{i.item.seq}", status=status_text(i.item.status, lang),
              at=f"（{at(i.item.done_at)}）" if i.item.done_at else "", outcome=f"：{outcome}" if outcome else "")
        )  # fmt: skip
    if record.verification:
        status.append(t("export.verification", lang, text=record.verification))
    notes = [record.notes or ""]
    if record.next_meeting_at:
        notes.append(t("export.next_meeting", lang, at=at(record.next_meeting_at)))
    cc = [p.display_name for p in view.cc_people] + [d.name for d in view.cc_departments]
    values = {
        "topic": [record.topic], "meeting": [meeting],
        "place": [" ".join(filter(None, [record.place, record.meeting_link]))], "participants": participants,
        "problem": problem, "key_points": [f"{d.name}：{k.text}" for d, k in view.key_points], "solution": solution,
        "owners": owners, "resources": resources, "status": status, "notes": notes,
        "recorder": [view.recorder.display_name], "cc": ["、".join(cc)],
        "category": [to_plain(category_text(record.category, lang))],
    }  # fmt: skip
    return [TableRow(key, t(f"export.row.{key}", lang), [line for line in values[key] if line]) for key in ROWS]


def _authority(decision: bool, resource: bool, lang: str) -> str:
    key = {(True, True): "both", (True, False): "decision", (False, True): "resource"}.get((decision, resource))
    return f"（{t(f'authority.{key}', lang)}）" if key else ""


def _decided(view: Any, lang: str, at: Any) -> Markup | str:
    """When it was decided; by whom when that was not the named approver (an admin); the note."""
    request = view.request
    if request.decided_at is None:
        return ""
    decider = getattr(view, "decided_by", None)
    by = ""
    if decider is not None and (view.approver is None or decider.id != view.approver.id):
        by = t("export.decided_by", lang, name=decider.display_name)
    note = t("export.decided_note", lang, note=request.decision_note) if getattr(request, "decision_note", None) else ""
    return t("export.decided", lang, at=at(request.decided_at), by=by, note=note)


def amount_text(request: Any) -> str:
    if request.amount is None:
        return ""
    return f"{request.amount.normalize():f} {request.unit or ''}".strip()


def record_markdown(view: RecordView, *, lang: str, zone: ZoneInfo) -> Markup:
    """The table for the chat: neutral markup, each cell one line of escaped text (``|`` shown as ``/``)."""
    lines = [Markup("| | |"), Markup("|---|---|")]
    for row in record_rows(view, lang=lang, zone=zone):
        cell = "；".join(row.lines).replace("|", "/").replace("\n", " ") or "—"
        lines.append(md("| {} | {} |", row.label, cell))
    return Markup("\n").join(lines)


def record_xlsx(view: RecordView, *, lang: str, zone: ZoneInfo) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = t("export.sheet_record", lang)
    title = t("export.document_title", lang)
    _string(sheet.cell(1, 1), title).font = Font(bold=True, size=14)
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=2)
    _string(sheet.cell(2, 1), f"{view.record.ref} {view.record.topic}").font = Font(bold=True)
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=2)
    for index, row in enumerate(record_rows(view, lang=lang, zone=zone), start=3):
        label = _string(sheet.cell(index, 1), row.label)
        label.font, label.fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_FILL_COLOUR)
        label.alignment = Alignment(vertical="top")
        _string(sheet.cell(index, 2), "\n".join(row.lines)).alignment = Alignment(wrap_text=True, vertical="top")
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["B"].width = 90
    return _save_workbook(workbook)


def record_docx(view: RecordView, *, lang: str, zone: ZoneInfo) -> bytes:
    from docx import Document
    from docx.oxml.ns import qn
    from docx.shared import Pt

    document = Document()
    normal = document.styles["Normal"]
    normal.font.size = Pt(10.5)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), EAST_ASIAN_FONT)
    document.add_heading(t("export.document_title", lang), level=1)
    document.add_paragraph(f"{view.record.ref} {view.record.topic}")
    rows = record_rows(view, lang=lang, zone=zone)
    table = document.add_table(rows=len(rows), cols=2)
    table.style = "Table Grid"
    for cells, row in zip(table.rows, rows, strict=True):
        cells.cells[0].paragraphs[0].add_run(row.label).bold = True
        target = cells.cells[1]
        for number, line in enumerate(row.lines or [""]):
            paragraph = target.paragraphs[0] if number == 0 else target.add_paragraph()
            paragraph.add_run(line)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- the list: one row per item

LIST_COLUMNS = ("record", "topic", "category", "record_status", "recorder", "created", "closed", "verification",
                "item", "description", "term", "owner", "department", "due", "item_status", "done", "on_time",
                "outcome")  # fmt: skip


def list_header(lang: str) -> list[str]:
    return [t(f"export.column.{name}", lang) for name in LIST_COLUMNS]


def list_values(rows: Sequence[ExportRow], *, lang: str, zone: ZoneInfo) -> list[list[str]]:
    def at(instant: datetime | None) -> str:
        return format_local(instant, zone) if instant else ""

    values = []
    for row in rows:
        on_time = ""
        if row.item_seq is not None and row.done_at is not None and row.due_at is not None:
            on_time = t("yes" if row.done_at <= row.due_at else "no", lang)
        values.append([
            f"R{row.record_id}", row.topic, to_plain(category_text(row.category, lang)), status_text(row.record_status, lang),
            row.recorder, at(row.created_at), at(row.closed_at), row.verification or "",
            f"R{row.record_id}-{row.item_seq}" if row.item_seq is not None else "", row.description or "",
            t(f"term.{row.term.value}", lang) if row.term else "", row.owner or "", row.department or "",
            due_text(row.due_at, zone) if row.due_at else "", status_text(row.item_status, lang) if row.item_status else "",
            at(row.done_at), on_time, row.outcome or "",
        ])  # fmt: skip
    return values


def list_csv(rows: Sequence[ExportRow], *, lang: str, zone: ZoneInfo) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(list_header(lang))
    writer.writerows([[_inert(cell) for cell in line] for line in list_values(rows, lang=lang, zone=zone)])
    return buffer.getvalue().encode("utf-8-sig")


def list_xlsx(rows: Sequence[ExportRow], *, lang: str, zone: ZoneInfo, title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = t("export.sheet_list", lang)
    header = list_header(lang)
    for column, name in enumerate(header, start=1):
        cell = _string(sheet.cell(1, column), name)
        cell.font, cell.fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_FILL_COLOUR)
    for number, line in enumerate(list_values(rows, lang=lang, zone=zone), start=2):
        for column, value in enumerate(line, start=1):
            _string(sheet.cell(number, column), value)
    for column, name in enumerate(header, start=1):
        wide = name in (t("export.column.topic", lang), t("export.column.description", lang))
        sheet.column_dimensions[get_column_letter(column)].width = 36 if wide else 14
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{max(len(rows) + 1, 1)}"
    workbook.properties.title = title
    return _save_workbook(workbook)


def _string(cell: Any, value: str) -> Any:
    """A text cell, never a formula, whatever the text starts with."""
    cell.value = value
    cell.data_type = "s"
    return cell


def _inert(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def _save_workbook(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
