"""What every platform's API client shares: one HTTP session, opened on first use, and the app's
access token, kept until five minutes before it expires (the platforms give two hours)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import aiohttp

from storage.timekeeping import Clock

TOKEN_MARGIN = timedelta(minutes=5)


class ApiClient:
    def __init__(self, *, clock: Clock, timeout: float) -> None:
        self.clock = clock  # the gateway's, once mounted
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._token_until: datetime | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def cached_token(self, fetch: Callable[[], Awaitable[tuple[str, int]]], *, refresh: bool = False) -> str:
        """The token while it is valid (``refresh``: not even then); else ``fetch()`` gives it and its seconds."""
        now = self.clock.now()
        if not refresh and self._token and self._token_until and now < self._token_until:
            return self._token
        token, seconds = await fetch()
        self._token, self._token_until = token, now + timedelta(seconds=seconds) - TOKEN_MARGIN
        return token
