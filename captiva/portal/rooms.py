"""What a room of the portal is made of (docs/architecture.md, "Python code"): a views class
bound to the Portal (:class:`Room`), its handlers marked with their routes (:func:`route`)
and guarded (:func:`guard` and the guards built on it: who may see a page or post a form).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

if TYPE_CHECKING:
    from captiva.portal.shell import Portal


def route(method: str, path: str):
    """Marks a room's handler as the answer to ``method path`` (Room.routes lists it). Put
    it above the handler's guard, as the first thing a reader sees of a page."""
    def mark(handler: Callable[..., Awaitable[Response]]):
        handler.captiva_routes = (*getattr(handler, "captiva_routes", ()), (method, path))
        return handler
    return mark


class Room:
    """A room's views, bound to the Portal (``self.portal``): its routes are the handlers
    it marks with @route, in the order the class defines them."""

    def __init__(self, portal: Portal):
        self.portal = portal

    def routes(self) -> list[Route]:
        return [Route(path, getattr(self, name), methods=[method])
                for name, member in vars(type(self)).items()
                for method, path in getattr(member, "captiva_routes", ())]


def guard(check: Callable[[Portal, Request], Awaitable[Any]]):
    """A room's handler (a method of views holding ``self.portal``) that runs only when
    ``check(portal, request)`` lets the request through: it is called with what the check
    found after the request (each item of a tuple), and the check's refusal, a Response, is
    the answer otherwise."""
    def wrap(handler: Callable[..., Awaitable[Response]]):
        @functools.wraps(handler)
        async def guarded(views, request: Request) -> Response:
            found = await check(views.portal, request)
            if isinstance(found, Response):
                return found
            return await handler(views, request,
                                 *(found if isinstance(found, tuple) else (found,)))
        return guarded
    return wrap


def signed_in(api: bool = False):
    """Only a signed-in user, the handler called with the Session; anyone else gets
    Portal.require_login's refusal (``api``: a JSON 401 rather than the login page)."""
    async def check(portal: Portal, request: Request):
        return portal.require_login(request, api)
    return guard(check)


def staff_only(api: bool = False):
    """Only staff whose role may read the console, the handler called with the Staff;
    anyone else gets Portal.require_staff's refusal (``api``: JSON 401/403 rather than
    pages)."""
    async def check(portal: Portal, request: Request):
        return await portal.require_staff(request, api)
    return guard(check)


def with_staff_form(act: bool = True, actions: Collection[str] | None = None):
    """A console POST, the handler called with the Staff and the form once
    Portal.staff_form has checked both (``act``: a role that may act). ``actions``: the
    path's ``{action}`` must be one of them, else a 404 (after those checks), and the
    handler is called with it too."""
    async def check(portal: Portal, request: Request):
        found = await portal.staff_form(request, act=act)
        if isinstance(found, Response) or actions is None:
            return found
        action = request.path_params["action"]
        if action not in actions:
            return portal.not_found(request)
        return (*found, action)
    return guard(check)


# A signed-in user's POST, the handler called with the Session and the form once
# Portal.student_form has checked both.
with_student_form = guard(lambda portal, request: portal.student_form(request))

# Anyone's POST (a visitor's too), the handler called with the form once its CSRF token
# is checked (Portal.checked_form).
with_form = guard(lambda portal, request: portal.checked_form(request))
