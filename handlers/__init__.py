"""Commands, mentions and card actions, routed to one handler each (see ``handlers.router``)."""

from __future__ import annotations

from handlers.router import Router


def root_router() -> Router:
    """All areas in one router; the dispatcher resolves every event against it."""
    from handlers import actions, admin, meetings, plan, record_life, records, reports, resources, webforms

    root = Router("root")
    root.include(records.router, actions.router, admin.router, reports.router, resources.router, webforms.router)
    root.include(plan.router, meetings.router, record_life.router)
    return root
