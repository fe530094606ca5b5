"""The files the bot made (exports, the review's chart), as Feishu takes them.

An image is uploaded as an image (``image_type=message``, at most 10 MB) and shown
in the card itself (an ``img`` element); any other file — or an image Feishu will
not take as one — is uploaded as a file and sent as a ``file`` message after the
card. Both happen before anything is sent, so a failed upload leaves nothing half
delivered: the outbox retries the whole message, and what was uploaded already is
found again (``Gateway.upload_once``) instead of being uploaded twice. Keys are
the app's to reuse in any chat, so they are kept per app, not per chat.

When Feishu refuses a file for good (too large, an unknown image format, the app
lacks the ``im:resource`` permission), the card goes out with the file's name,
because the card's text matters more than its attachment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot.platforms.feishu.api import MAX_FILE_BYTES, MAX_IMAGE_BYTES, FeishuClient, FeishuError
from bot.platforms.gateway import Gateway
from cards.model import Attachment, Card
from storage.files import FileContent

log = logging.getLogger(__name__)
PLATFORM = "feishu"
FILE_TYPES = {  # im/v1/files ``file_type``: these, or "stream" for anything else (CSV, Markdown, PNG …)
    "application/pdf": "pdf",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "doc",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xls",
    "application/vnd.ms-powerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "ppt",
    "video/mp4": "mp4",
    "audio/opus": "opus",
}


def file_type(mime: str) -> str:
    return FILE_TYPES.get(mime.split(";")[0].strip().lower(), "stream")


@dataclass
class Uploaded:
    images: dict[int, str] = field(default_factory=dict)  # file id → image_key: shown in the card
    files: list[tuple[int, str]] = field(default_factory=list)  # (file id, file_key): file messages after the card


class Uploader:
    def __init__(self, client: FeishuClient, *, images: bool, files: bool) -> None:
        self.client = client
        self.images = images
        self.files = files

    async def upload(self, card: Card, gateway: Gateway | None, *, with_files: bool) -> Uploaded:
        """Upload the card's attachments (``with_files``: files too, for a new message rather than an update)."""
        uploaded, seen = Uploaded(), set[int]()
        if gateway is None:
            return uploaded
        for item in card.elements:
            if not isinstance(item, Attachment) or item.file_id in seen:
                continue
            seen.add(item.file_id)
            if item.image and self.images:
                key = await self._once(gateway, item, "image")
                if key is not None:
                    uploaded.images[item.file_id] = key
                    continue
            if with_files and self.files:
                key = await self._once(gateway, item, "file")
                if key is not None:
                    uploaded.files.append((item.file_id, key))
        return uploaded

    async def _once(self, gateway: Gateway, item: Attachment, kind: str) -> str | None:
        async def upload(stored: FileContent) -> str | None:
            return await (self._image(stored) if kind == "image" else self._file(stored))

        scope = f"{self.client.app_id}:{kind}"  # keys belong to the app that uploaded them
        return await gateway.upload_once(platform=PLATFORM, file_id=item.file_id, scope=scope, upload=upload)

    async def _image(self, stored: FileContent) -> str | None:
        if not stored.content or len(stored.content) > MAX_IMAGE_BYTES:
            return None  # sent as a file instead
        try:
            return await self.client.upload_image(stored.content, filename=stored.filename, mime=stored.mime)
        except FeishuError as refused:
            log.warning("feishu: image %s (%s) refused, trying it as a file: %s", stored.id, stored.filename, refused)
            return None

    async def _file(self, stored: FileContent) -> str | None:
        if not stored.content or len(stored.content) > MAX_FILE_BYTES:
            log.warning("feishu: file %s (%s) is empty or over 30 MB; naming it only", stored.id, stored.filename)
            return None
        try:
            return await self.client.upload_file(
                stored.content, filename=stored.filename, file_type=file_type(stored.mime), mime=stored.mime
            )
        except FeishuError as refused:
            log.error("feishu: file %s (%s) refused; the card names it only: %s", stored.id, stored.filename, refused)
            return None
