"""The files the bot made (exports, the review's chart), shared into the channel as Slack files.

Slack's upload flow, through ``slack_sdk``'s ``files_upload_v2``:
``files.getUploadURLExternal`` (filename, length) → the bytes POSTed to the
``upload_url`` it returns → ``files.completeUploadExternal`` (``files=[{id,
title}]``, ``channel_id``, ``thread_ts``), which shares the file into the
channel. Images go the same way: a Block Kit ``image`` block shows only a public
URL, while a shared image file is shown inline by Slack itself.

Files are shared *before* the card that names them. Slack has no idempotency key
for messages, so a card posted before a failed upload would be posted again when
the outbox retries; shared first, a retry finds each file already shared into the
channel (``Gateway.upload_once``, kept per channel) and posts the card once.

When Slack refuses a file for good (the app lacks ``files:write``, the bot is not
in the channel — ``chat:write.public`` lets it post there, not share files —, uploads
are disabled in the workspace …), the card goes out with the file's name.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.platforms.gateway import Gateway
from cards.model import Attachment, Card
from storage.files import FileContent

log = logging.getLogger(__name__)
PLATFORM = "slack"
REFUSED = {"missing_scope", "not_in_channel", "file_uploads_disabled", "file_uploads_except_images_disabled",
           "file_type_not_allowed", "file_upload_size_restricted", "restricted_action"}  # fmt: skip


class Sharer:
    def __init__(self, web: AsyncWebClient, *, images: bool, files: bool) -> None:
        self.web = web
        self.images = images
        self.files = files

    async def share(self, card: Card, gateway: Gateway | None, *, channel: str, thread_ts: str | None) -> None:
        """Share each of the card's attachments into ``channel`` (in ``thread_ts``'s thread) unless it is there."""
        if gateway is None:
            return
        seen: set[int] = set()
        for item in card.elements:
            if (
                not isinstance(item, Attachment)
                or item.file_id in seen
                or not (self.images if item.image else self.files)
            ):
                continue
            seen.add(item.file_id)

            async def upload(stored: FileContent) -> str | None:
                return await self._upload(stored, channel=channel, thread_ts=thread_ts)

            await gateway.upload_once(platform=PLATFORM, file_id=item.file_id, scope=channel, upload=upload)

    async def _upload(self, stored: FileContent, *, channel: str, thread_ts: str | None) -> str | None:
        if not stored.content:
            return None  # Slack takes no empty file; the card names it
        try:
            done = await self.web.files_upload_v2(
                channel=channel, thread_ts=thread_ts, file=stored.content, filename=stored.filename,
                title=stored.filename, alt_txt=stored.filename if stored.image else None,
            )  # fmt: skip
        except SlackApiError as exc:
            if exc.response.get("error") not in REFUSED:
                raise
            log.error("slack: file %s (%s) refused (%s); the card names it only", stored.id, stored.filename,
                      exc.response.get("error"))  # fmt: skip
            return None
        return str(done["files"][0]["id"])
