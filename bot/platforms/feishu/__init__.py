"""Feishu / Lark (in progress: inbound only, see adapter.py). Not enabled until it can send."""

from __future__ import annotations

import logging

from bot.settings import Settings

log = logging.getLogger(__name__)


def create(settings: Settings):  # type: ignore[no-untyped-def]
    if settings.feishu_app_id:
        log.warning("Feishu is configured, but this version only verifies inbound events; it is not enabled yet")
    return None
