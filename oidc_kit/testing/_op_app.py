"""The sandbox provider's Starlette app: discovery, JWKS and the endpoint routes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._op_assertion import ASSERTION_ALGS, HMAC_ASSERTION_ALGS, AssertionVerifier
from ._op_authorize import AuthorizationEndpoint
from ._op_backchannel import LogoutNotifier
from ._op_context import OPConfig, OPContext
from ._op_dpop import DPOP_ALGS
from ._op_introspection import IntrospectionEndpoint
from ._op_logout import EndSessionEndpoint
from ._op_models import SCOPE_CLAIMS, SandboxClient
from ._op_mtls import ALIASED_PATHS, MTLS_METHODS, MTLS_PREFIX, at_mtls_alias
from ._op_rar import DETAIL_TYPES
from ._op_session_page import SessionPage
from ._op_token import TokenEndpoint

__all__ = ["build_app", "discovery_document"]

_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
_TOKEN_CLAIMS = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "at_hash", "azp"]


def discovery_document(config: OPConfig, clients: Iterable[SandboxClient] = ()) -> dict[str, Any]:
    """The provider metadata (OpenID Connect Discovery 1.0), every URL absolute;
    ``client_secret_jwt`` (HS256) is advertised when one of ``clients`` is registered so."""
    released = [c for s in config.scopes_supported for c in SCOPE_CLAIMS.get(s, ())]
    methods, algs = _AUTH_METHODS, list(ASSERTION_ALGS)
    if any("client_secret_jwt" in client.auth_methods for client in clients):
        methods, algs = [*methods, "client_secret_jwt"], [*algs, *HMAC_ASSERTION_ALGS]
    if config.mtls:
        methods = [*methods, *sorted(MTLS_METHODS)]
    document: dict[str, Any] = {
        "issuer": config.issuer,
        "authorization_endpoint": config.url("/authorize"),
        "pushed_authorization_request_endpoint": config.url("/par"),
        "token_endpoint": config.url("/token"),
        "userinfo_endpoint": config.url("/userinfo"),
        "jwks_uri": config.url("/jwks"),
        "revocation_endpoint": config.url("/revoke"),
        "end_session_endpoint": config.url("/logout"),
        "response_types_supported": ["code"],
        # JARM: the response as a JWT signed like the ID tokens (_op_authorize).
        "response_modes_supported": ["query", "form_post", "query.jwt", "form_post.jwt", "jwt"],
        "authorization_signing_alg_values_supported": [config.signing_alg],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [config.signing_alg],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "revocation_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_signing_alg_values_supported": algs,
        "dpop_signing_alg_values_supported": list(DPOP_ALGS),
        "scopes_supported": list(config.scopes_supported),
        "claims_supported": _TOKEN_CLAIMS + list(dict.fromkeys(released)),
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        # JAR (RFC 9101): signed request objects, by value or pushed, as client assertions.
        "request_parameter_supported": True,
        "request_object_signing_alg_values_supported": list(ASSERTION_ALGS),
        # RAR (RFC 9396 10): the authorization details types it knows.
        "authorization_details_types_supported": list(DETAIL_TYPES),
        "request_uri_parameter_supported": False,
        "claims_parameter_supported": False,
    }
    if config.require_par:
        document["require_pushed_authorization_requests"] = True
    if config.mtls:  # RFC 8705 5 and 3.3
        document["tls_client_certificate_bound_access_tokens"] = True
        document["mtls_endpoint_aliases"] = {
            name: config.url(MTLS_PREFIX + path)
            for name, path in ALIASED_PATHS.items()
            if name != "introspection_endpoint" or config.introspection
        }
    if config.introspection:
        document["introspection_endpoint"] = config.url("/introspect")
        document["introspection_endpoint_auth_methods_supported"] = _AUTH_METHODS
        document["introspection_endpoint_auth_signing_alg_values_supported"] = list(ASSERTION_ALGS)
    return document


def build_app(ctx: OPContext, notifier: LogoutNotifier, assertions: AssertionVerifier) -> Starlette:
    """A Starlette app with routes relative to the issuer (mount it at the issuer's path)."""
    authorization = AuthorizationEndpoint(ctx, assertions)
    tokens = TokenEndpoint(ctx, assertions)
    logout = EndSessionEndpoint(ctx, notifier)
    session_page = SessionPage(ctx, notifier)

    async def discovery(request: Request) -> Response:
        return JSONResponse(discovery_document(ctx.config, ctx.clients.values()))

    async def jwks(request: Request) -> Response:
        return JSONResponse(ctx.keys.jwks())

    get, post, both = ["GET"], ["POST"], ["GET", "POST"]
    routes = [
        Route("/.well-known/openid-configuration", discovery, methods=get),
        Route("/jwks", jwks, methods=get),
        Route("/authorize", authorization.authorize, methods=both),
        Route("/login", authorization.login, methods=post),
        Route("/par", authorization.push, methods=post),
        Route("/token", tokens.token, methods=post),
        Route("/revoke", tokens.revoke, methods=post),
        Route("/userinfo", tokens.userinfo, methods=both),
        Route("/logout", logout.end_session, methods=both),
        Route("/session", session_page.show, methods=get),
        Route("/session/logout", session_page.logout, methods=post),
    ]
    if ctx.config.introspection:
        introspection = IntrospectionEndpoint(ctx, assertions)
        routes.append(Route("/introspect", introspection.introspect, methods=post))
    if ctx.config.mtls:
        # The aliases: the same endpoints, seeing the client's certificate (_op_mtls).
        aliased = {path: route for route in routes if (path := getattr(route, "path", ""))}
        for path in ALIASED_PATHS.values():
            if (route := aliased.get(path)) is not None and isinstance(route, Route):
                methods = sorted(route.methods or ())
                endpoint = at_mtls_alias(route.endpoint)
                routes.append(Route(MTLS_PREFIX + path, endpoint, methods=methods))
    return Starlette(routes=routes)
