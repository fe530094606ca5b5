"""The sandbox's cast: people of three departments, their leads and a director, ready to try the flow."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from storage.directory import ensure_person, find_department, set_department

WORKSPACE = "sandbox"


@dataclass(frozen=True)
class Persona:
    user_id: str
    name: str
    department: str
    lead: bool = False
    director: bool = False
    admin: bool = False


PERSONAS = (
    Persona("zhangwei", "张伟", "运营部", lead=True, admin=True),
    Persona("lina", "李娜", "技术部", lead=True),
    Persona("wangfang", "王芳", "财务部", lead=True),
    Persona("zhaoqiang", "赵强", "技术部"),
    Persona("chenjing", "陈静", "运营部"),
    Persona("liuyang", "刘洋", "总经办", director=True),
)
BY_ID = {p.user_id: p for p in PERSONAS}


def seed(session: Session) -> None:
    """Create the cast and their departments once (idempotent)."""
    people = {p.user_id: ensure_person(session=session, platform="sandbox", user_id=p.user_id, display_name=p.name)
              for p in PERSONAS}  # fmt: skip
    director = next(p for p in PERSONAS if p.director)
    for persona in PERSONAS:
        person = people[persona.user_id]
        person.is_admin = persona.admin
        department = find_department(session=session, workspace=WORKSPACE, name=persona.department)
        if department is None or persona.lead or persona.director:
            department = set_department(
                session=session, workspace=WORKSPACE, name=persona.department,
                lead_id=person.id if persona.lead else None,
                director_id=people[director.user_id].id if not persona.director else None,
            )  # fmt: skip
        person.department_id = department.id
        session.add(person)
