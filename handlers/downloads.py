"""Download links for the files the bot makes, where a platform cannot take the file itself.

A platform declares whether files (exports) and images (the review's chart) can
be sent into its chats (``Capabilities.files``, ``images``). Where one cannot,
the card's attachment becomes a button that opens a signed link to the file
(the hosted pages' signer, its own salt), served at ``/d/<token>``. The link
lives as long as the file is kept (exports 7 days, charts 40): the signature
bounds its age by the longest retention, and the page refuses a file that has
expired. The link names a file, not a person: like the file in a chat, it is
for whoever is in the group.
"""

from __future__ import annotations

from cards.model import Actions, Attachment, ButtonStyle, Card, LinkButton
from handlers.capabilities import Capabilities
from handlers.webforms import LinkKind, LinkRefused, Refusal, WebLinks
from storage.files import RETENTION

LINK_SECONDS = int(max(RETENTION.values()).total_seconds())


def download_link(*, file_id: int, links: WebLinks) -> str:
    return f"{links.base_url}/d/{links.signer.sign(LinkKind.FILE, {'d': file_id})}"


def open_download(token: str, *, links: WebLinks) -> int:
    """The file a link is for, or ``LinkRefused`` (edited, or older than any file is kept)."""
    file_id = links.signer.read(LinkKind.FILE, token, max_age=LINK_SECONDS).get("d")
    if not isinstance(file_id, int) or isinstance(file_id, bool) or file_id <= 0:
        raise LinkRefused(Refusal.INVALID)
    return file_id


def with_download_links(card: Card, *, capabilities: Capabilities, links: WebLinks) -> Card:
    """``card`` with each attachment the platform cannot take as a button to its download link."""
    if not any(isinstance(e, Attachment) and not _taken(e, capabilities) for e in card.elements):
        return card
    elements = [
        _button(e, links) if isinstance(e, Attachment) and not _taken(e, capabilities) else e for e in card.elements
    ]
    return card.model_copy(update={"elements": elements})


def _button(attachment: Attachment, links: WebLinks) -> Actions:
    url = download_link(file_id=attachment.file_id, links=links)
    return Actions(buttons=[LinkButton(label=f"⬇ {attachment.filename}", url=url, style=ButtonStyle.DEFAULT)])


def _taken(attachment: Attachment, capabilities: Capabilities) -> bool:
    return capabilities.images if attachment.image else capabilities.files
