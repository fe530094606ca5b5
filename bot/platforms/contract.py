"""The platform contract: what each folder under ``bot/platforms/`` provides, and nothing more.

A platform is four small parts and a declaration (compare NoneBot2's
adapter/bot/event split and slack-bolt's listener API):

- **inbound** — verify a request (signature, timestamp window, decryption) and
  parse it into a neutral ``Event``, a ``Challenge`` or nothing; then answer the
  platform from the dispatch result. The shared ``Gateway`` runs the rest of the
  pipeline for every platform (dedupe, inbox or dispatcher, 503 when the inbox
  cannot be written, 4xx for anything malformed).
- **renderer** — a neutral card as the platform's messages within its limits;
  form values read back; everything a person typed escaped for its markup.
- **client** — ``deliver`` an outbox message (send, reply, update, a private
  notice); failures raised as ``DeliveryError`` (retryable or permanent, with
  ``retry_after`` from the platform's throttling answer).
- **capabilities** — ``handlers.capabilities.Capabilities``: the core decides
  how to answer from them, never from the platform's name.
- **settings** — the package's own variables (``PlatformSettings``); a package
  whose credentials are set but which cannot start stops the process with one
  line (``ConfigError``).

``docs/adding-a-platform.md`` walks through a new one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from aiohttp import web
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.outbox import Delivered, OutgoingMessage
from cards.model import Card
from handlers.capabilities import Capabilities, RateLimit
from handlers.dispatcher import DispatchResult
from handlers.events import Event

if TYPE_CHECKING:
    from bot.platforms.gateway import Gateway
    from bot.settings import Settings


class Rejected(Exception):
    """A request that is forged, stale, undecryptable or malformed: answered with ``status``, nothing changes."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Challenge:
    """A URL verification the platform sends when the endpoint is configured: echo ``value`` as it asks."""

    value: str


@dataclass(frozen=True)
class RawRequest:
    """What an inbound part reads: the raw body (signatures are over bytes), headers and query string."""

    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str]


class Inbound(Protocol):
    """Verify and parse one platform's webhook requests, and build its answers."""

    async def open(self, request: RawRequest) -> Event | Challenge | None:
        """The request's event, its challenge, or ``None`` for what the bot ignores; ``Rejected`` otherwise."""
        ...

    def acknowledge(self, event: Event | None) -> web.Response:
        """The answer to an event stored for later (or ignored): the platform's empty acknowledgement."""
        ...

    def answer(self, event: Event, result: DispatchResult) -> web.Response:
        """The answer to an event handled now: what ``result`` says the platform can show."""
        ...

    def challenge(self, challenge: Challenge) -> web.Response: ...


class Renderer(Protocol):
    """Neutral cards as the platform's messages."""

    def render(self, card: Card, *, names: Mapping[str, str]) -> list[dict[str, Any]]:
        """The messages the card needs, each within the platform's limits (long cards are paged, never refused)."""
        ...

    def form_values(self, submitted: Any) -> dict[str, Any]:
        """A submission as the platform sends it, as the core's nested form values."""
        ...

    def escape(self, text: str) -> str:
        """A person's text for the platform's markup: shown as typed, never a mention, link or formatting."""
        ...


class Platform(Protocol):
    name: str
    capabilities: Capabilities
    renderer: Renderer

    @property
    def rate_limit(self) -> RateLimit: ...

    def mount(self, app: web.Application, gateway: Gateway) -> None:
        """Add the platform's routes (webhooks) and start-up work (outgoing connections) to the application."""
        ...

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        """The client: render the card and send it (or reply, update, or show it to one person)."""
        ...

    async def close(self) -> None: ...


class PlatformSettings(BaseSettings):
    """A platform package's own variables. ``CREDENTIALS`` switch it on: all of them, or none."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore", frozen=True
    )
    CREDENTIALS: ClassVar[tuple[str, ...]] = ()
    OPTIONAL: ClassVar[tuple[str, ...]] = ()  # meaningful only with the credentials: set alone, a mistake
    SECRETS: ClassVar[tuple[str, ...]] = ()  # never echoed, not even in an error

    def is_configured(self) -> bool:
        return any(self.value_of(name) is not None for name in self.CREDENTIALS)

    def value_of(self, env_name: str) -> Any:
        return getattr(self, env_name.lower())


@dataclass(frozen=True)
class PlatformPackage:
    """What ``bot/platforms/<name>/__init__.py`` exports as ``PACKAGE``: found and loaded by ``load_platforms``."""

    name: str
    title: str
    settings: type[PlatformSettings]
    create: Callable[[Any, Settings], Platform]  # (its settings, the core settings) → the platform
    enabled: Callable[[Any, Settings, bool], bool] | None = None  # default: its credentials are set


def http_url(value: str) -> str:
    """A field validator for API bases: an http(s) URL with a host."""
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("must be an http(s) URL such as https://open.feishu.cn")
    return value
