"""What the endpoints share, kept on ``app.state`` and fetched with :func:`deps`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from .orca import OrcaClient
from .settings import Settings

if TYPE_CHECKING:  # the kit is imported lazily, when the app is created
    from oidc_kit import OIDCConfig
    from oidc_kit.starlette import OIDCAuth

__all__ = ["Deps", "deps"]


@dataclass(frozen=True)
class Deps:
    """The app's settings, the kit and its configuration, the ORCA client, the templates."""

    settings: Settings
    config: OIDCConfig
    auth: OIDCAuth
    orca: OrcaClient
    templates: Jinja2Templates


def deps(request: Request) -> Deps:
    """The :class:`Deps` of the app serving ``request``."""
    return cast(Deps, request.app.state.deps)
