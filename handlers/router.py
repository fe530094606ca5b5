"""Routing in the aiogram manner: a router per area, included into one root.

A handler is a plain function registered for a parsed command type or a card
action id. It names what it needs as parameters (``session``, ``group``,
``actor``, ``command``, ``out`` …) and receives exactly those; it returns an
``Outcome`` and never touches a platform.

Handlers are synchronous on purpose: all they do is database work through
SQLModel's synchronous session and card building. The dispatcher runs each one
in a worker thread, and every network call (the platform APIs) is the outbox's
job, which is async.

Inner middlewares (e.g. permissions) wrap only the matched handler of the router
that declared them, and of the routers it includes.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cards.model import Card

Handler = Callable[..., "Outcome"]
# An inner middleware gets ``call_next`` and the handler's data (``data["handler"]`` is the handler).
Middleware = Callable[[Callable[[dict[str, Any]], "Outcome"], dict[str, Any]], "Outcome"]


RESULT_CARD = "result_card"  # Outcome.extra: what a submitted form produced, when ``update`` is only a stub


@dataclass
class Outcome:
    """What a handler answers right away (durable posts go through ``out`` instead).

    ``reply``: a card for the chat the event came from; ``form``: a form for the
    sender to fill (a modal where the platform has them); ``update``: replaces the
    card a button was pressed on; ``toast``: a short notice for the presser.
    ``private``: the reply is for the sender alone (a link bound to them): shown
    only to them where the platform can, else posted in the chat (the card names them).
    """

    reply: Card | None = None
    form: Card | None = None
    update: Card | None = None
    toast: str | None = None
    private: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    handler: Handler
    middlewares: tuple[Middleware, ...]

    def __call__(self, data: dict[str, Any]) -> Outcome:
        def run(index: int, values: dict[str, Any]) -> Outcome:
            if index == len(self.middlewares):
                return call_with(self.handler, values)
            return self.middlewares[index](lambda v: run(index + 1, v), values)

        return run(0, {**data, "handler": self.handler})


def call_with(handler: Handler, data: dict[str, Any]) -> Outcome:
    """Call ``handler`` with the entries of ``data`` its parameters name."""
    parameters = _parameters(handler)
    missing = [n for n, p in parameters.items() if n not in data and p.default is inspect.Parameter.empty]
    if missing:
        raise TypeError(f"{handler.__qualname__} needs {missing}, which no middleware provides")
    return handler(**{name: data[name] for name in parameters if name in data})


@functools.cache
def _parameters(handler: Handler) -> Any:
    """A handler's parameters, read once: ``inspect.signature`` cost a tenth of a ``/record list``."""
    return inspect.signature(handler).parameters


class Router:
    def __init__(self, name: str) -> None:
        self.name = name
        self._commands: dict[type, Handler] = {}
        self._actions: dict[str, Handler] = {}
        self._middlewares: list[Middleware] = []
        self._children: list[Router] = []

    def command(self, *command_types: type) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for command_type in command_types:
                self._commands[command_type] = handler
            return handler

        return register

    def action(self, *action_ids: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for action_id in action_ids:
                self._actions[str(action_id)] = handler
            return handler

        return register

    def use(self, middleware: Middleware) -> None:
        """Add an inner middleware around this router's handlers (and its children's)."""
        self._middlewares.append(middleware)

    def include(self, *routers: Router) -> None:
        self._children.extend(routers)

    def _walk(self, inherited: tuple[Middleware, ...] = ()) -> Iterable[tuple[Router, tuple[Middleware, ...]]]:
        stack = (*inherited, *self._middlewares)
        yield self, stack
        for child in self._children:
            yield from child._walk(stack)

    def resolve_command(self, command: object) -> Route | None:
        for router, middlewares in self._walk():
            handler = router._commands.get(type(command))
            if handler is not None:
                return Route(handler, middlewares)
        return None

    def resolve_action(self, action_id: str) -> Route | None:
        for router, middlewares in self._walk():
            handler = router._actions.get(action_id)
            if handler is not None:
                return Route(handler, middlewares)
        return None
