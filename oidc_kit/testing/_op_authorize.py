"""The authorization endpoint: strict request checks, the login form, single sign-on; and the
pushed authorization request endpoint (PAR, RFC 9126).

Errors found before ``client_id`` and ``redirect_uri`` are trusted are shown as a page, never
redirected. Later errors go back to the ``redirect_uri`` (RFC 6749 4.1.2.1) with ``iss``
(RFC 9207), as a query string or an auto-submitting form (``response_mode=form_post``); with
``query.jwt``, ``form_post.jwt`` or ``jwt`` (JARM) as one ``response`` JWT signed like the ID
tokens.

A client may push its parameters first (``POST /par``, authenticated like at the token
endpoint, checked exactly as here) and then send only ``client_id`` and the ``request_uri`` it
got: single use, valid ``par_ttl`` seconds, for that client only. With ``require_par`` (for the
provider or the client) a request that was not pushed is refused.
"""

from __future__ import annotations

import dataclasses
import hmac
import re
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ._op_assertion import AssertionVerifier
from ._op_client_auth import authenticate_client
from ._op_context import (
    NO_STORE,
    OAuthError,
    OPContext,
    json_response,
    read_form,
    request_params,
)
from ._op_models import SandboxUser
from ._op_pages import error_page, render_page
from ._op_rar import authorization_details
from ._op_request_object import RequestObjects
from ._op_store import PAR_URN_PREFIX, AuthRequest, Interaction, OPSession

__all__ = ["COOKIE_NAME", "AuthorizationEndpoint", "redirect_with"]

COOKIE_NAME = "sandbox_op_session"
_RESPONSE_MODES = ("query", "form_post", "query.jwt", "form_post.jwt", "jwt")
#: JARM: the response as one JWT in ``response`` (``jwt`` is ``query.jwt`` for the code flow).
_JWT_MODES = ("query.jwt", "form_post.jwt", "jwt")
#: How long a JARM response JWT is valid (JARM 2.1 recommends at most 10 minutes).
_RESPONSE_JWT_TTL = 600
_PROMPTS = frozenset({"none", "login", "consent", "select_account"})
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
#: Client authentication parameters: never part of a pushed authorization request.
_CLIENT_AUTH_PARAMS = ("client_secret", "client_assertion", "client_assertion_type")


@dataclass(frozen=True)
class _Reply:
    """Where and how the answer to an authorization request goes."""

    redirect_uri: str
    response_mode: str
    state: str | None
    #: The audience of a JARM response JWT.
    client_id: str = ""

    @classmethod
    def to(cls, request: AuthRequest) -> _Reply:
        return cls(request.redirect_uri, request.response_mode, request.state, request.client_id)


def redirect_with(uri: str, params: dict[str, str]) -> RedirectResponse:
    """A 303 redirect to ``uri`` with ``params`` added to its query string."""
    separator = "&" if "?" in uri else "?"
    return RedirectResponse(uri + separator + urlencode(params), 303, headers=NO_STORE)


class AuthorizationEndpoint:
    """``/authorize`` (GET or POST), ``/login`` (the login form's POST) and ``/par``."""

    def __init__(self, ctx: OPContext, assertions: AssertionVerifier) -> None:
        self._ctx = ctx
        self._assertions = assertions
        #: JAR: the request objects this provider verified.
        self.request_objects = RequestObjects(ctx, assertions)

    async def authorize(self, request: Request) -> Response:
        """Check an authorization request, then log in, reuse the OP session, or refuse."""
        try:
            params = await request_params(request)
            if "request_uri" in params:
                return self._proceed(request, self._pushed_request(params))
            params = await self._unpacked(params)
            reply = self._trusted_reply(params)
        except OAuthError as exc:
            return error_page(exc.error, exc.description)
        try:
            self._check_par_not_required(params["client_id"])
            auth = self._validate(params, reply)
        except OAuthError as exc:
            return self._send(reply, {"error": exc.error, "error_description": exc.description})
        return self._proceed(request, auth)

    async def push(self, request: Request) -> Response:
        """``POST /par`` (RFC 9126): check and keep the request; 201 with its ``request_uri``."""
        try:
            form = await read_form(request)
            client = await authenticate_client(request, form, self._ctx.clients, self._assertions)
            if "request_uri" in form:
                description = "request_uri is not allowed in a pushed authorization request"
                raise OAuthError("invalid_request", description)
            params = {k: v for k, v in form.items() if k not in _CLIENT_AUTH_PARAMS}
            params["client_id"] = client.client_id
            self.request_objects.check_required(client, params)
            if "request" in params:
                params = await self.request_objects.params(client, params)
            auth = self._validate(params, self._trusted_reply(params))
            auth = self._bind_to_proof(request, auth)
        except OAuthError as exc:
            return exc.response()
        ttl = self._ctx.config.par_ttl
        request_uri = self._ctx.store.push(auth, ttl)
        return json_response({"request_uri": request_uri, "expires_in": ttl}, status=201)

    def _bind_to_proof(self, request: Request, auth: AuthRequest) -> AuthRequest:
        """RFC 9449 10.1: a DPoP proof at PAR binds the code to its key; with ``dpop_jkt``
        as well, both must name the same key."""
        jkt = self._ctx.proof_jkt(request, "/par")
        if jkt is None:
            return auth
        if auth.dpop_jkt is not None and auth.dpop_jkt != jkt:
            raise OAuthError("invalid_dpop_proof", "dpop_jkt differs from the proof's key")
        return dataclasses.replace(auth, dpop_jkt=jkt)

    def _proceed(self, request: Request, auth: AuthRequest) -> Response:
        """A valid request: a code through the OP session, the login form, or an error."""
        session = self._ctx.store.session(request.cookies.get(COOKIE_NAME))
        if session is not None and not self._needs_login(session, auth):
            return self._send_code(auth, session)
        if "none" in auth.prompt:
            error = {"error": "login_required", "error_description": "The user must log in"}
            return self._send(_Reply.to(auth), error)
        interaction = self._ctx.store.new_interaction(auth, self._ctx.config.interaction_ttl)
        return self._login_page(interaction)

    async def login(self, request: Request) -> Response:
        """The login form's POST: check the credentials, or cancel."""
        try:
            form = await read_form(request)
        except OAuthError as exc:
            return error_page(exc.error, exc.description)
        store = self._ctx.store
        interaction = store.interaction(form.get("interaction", ""))
        if interaction is None:
            description = "This login request is unknown or expired: start again from the app."
            return error_page("invalid_request", description)
        auth = interaction.request
        if form.get("action") == "cancel":
            store.end_interaction(interaction.id)
            error = {"error": "access_denied", "error_description": "The user cancelled"}
            return self._send(_Reply.to(auth), error)
        user = self._check_credentials(form)
        if user is None:
            message = "Wrong username or password."
            username = form.get("username", "")
            return self._login_page(interaction, error=message, username=username, status=401)
        store.end_interaction(interaction.id)
        store.end_session(request.cookies.get(COOKIE_NAME))
        session = store.new_session(user.sub)
        response = self._send_code(auth, session)
        config = self._ctx.config
        response.set_cookie(
            COOKIE_NAME,
            session.key,
            path=config.cookie_path,
            secure=config.https,
            httponly=True,
            samesite="lax",
        )
        return response

    # -- checks ----------------------------------------------------------------------------

    def _pushed_request(self, params: dict[str, str]) -> AuthRequest:
        """The pushed request a ``request_uri`` names (used up now); only ``client_id`` and
        ``request_uri`` are read from the authorization request itself."""
        client_id = params.get("client_id", "")
        if client_id not in self._ctx.clients:
            raise OAuthError("invalid_client", "client_id is missing or unknown")
        request_uri = params["request_uri"]
        pushed = None
        if request_uri.startswith(PAR_URN_PREFIX):
            pushed = self._ctx.store.take_pushed(request_uri)
        if pushed is None:
            description = "request_uri is unknown, expired or already used"
            raise OAuthError("invalid_request_uri", description)
        if pushed.client_id != client_id:
            raise OAuthError("invalid_request_uri", "request_uri was pushed by another client")
        return pushed

    async def _unpacked(self, params: dict[str, str]) -> dict[str, str]:
        """By value (RFC 9101 5.1): the request object's parameters, verified, instead of the
        query's; a client that must sign its requests is refused without one."""
        client = self._ctx.clients.get(params.get("client_id", ""))
        if client is None:
            raise OAuthError("invalid_client", "client_id is missing or unknown")
        self.request_objects.check_required(client, params)
        if "request" not in params:
            return params
        return await self.request_objects.params(client, params)

    def _check_par_not_required(self, client_id: str) -> None:
        if self._ctx.config.require_par or self._ctx.clients[client_id].require_par:
            description = "authorization requests must be pushed first (PAR): use request_uri"
            raise OAuthError("invalid_request", description)

    def _trusted_reply(self, params: dict[str, str]) -> _Reply:
        client = self._ctx.clients.get(params.get("client_id", ""))
        if client is None:
            raise OAuthError("invalid_client", "client_id is missing or unknown")
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None or redirect_uri not in client.redirect_uris:
            raise OAuthError("invalid_request", "redirect_uri is missing or not registered")
        mode = params.get("response_mode", "query")
        return _Reply(
            redirect_uri,
            mode if mode in _RESPONSE_MODES else "query",
            params.get("state"),
            client.client_id,
        )

    def _validate(self, params: dict[str, str], reply: _Reply) -> AuthRequest:
        if "request" in params:
            raise OAuthError("request_not_supported", "request objects are not supported")
        if params.get("response_mode", "query") not in _RESPONSE_MODES:
            modes = ", ".join(_RESPONSE_MODES)
            raise OAuthError("invalid_request", f"response_mode must be one of {modes}")
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "response_type must be code")
        nonce = params.get("nonce")
        if nonce is None:
            raise OAuthError("invalid_request", "nonce is required")
        return AuthRequest(
            client_id=params["client_id"],
            redirect_uri=reply.redirect_uri,
            scopes=self._scopes(params.get("scope", "")),
            nonce=nonce,
            code_challenge=_code_challenge(params),
            state=reply.state,
            response_mode=reply.response_mode,
            prompt=_prompt(params.get("prompt", "")),
            max_age=_max_age(params.get("max_age")),
            login_hint=params.get("login_hint"),
            dpop_jkt=params.get("dpop_jkt") or None,
            authorization_details=authorization_details(params.get("authorization_details")),
        )

    def _scopes(self, scope: str) -> tuple[str, ...]:
        scopes = tuple(dict.fromkeys(scope.split()))
        if "openid" not in scopes:
            raise OAuthError("invalid_scope", "scope must include openid")
        unknown = [s for s in scopes if s not in self._ctx.config.scopes_supported]
        if unknown:
            raise OAuthError("invalid_scope", f"unsupported scope: {' '.join(unknown)}")
        return scopes

    def _needs_login(self, session: OPSession, auth: AuthRequest) -> bool:
        if auth.prompt & {"login", "select_account"} or auth.authorization_details:
            return True  # RAR: the user consents to the details on the login page
        if auth.max_age is None:
            return False
        age = self._ctx.config.now() - session.auth_time
        return auth.max_age == 0 or age > auth.max_age

    def _check_credentials(self, form: dict[str, str]) -> SandboxUser | None:
        user = self._ctx.users.get(form.get("username", ""))
        password = form.get("password", "").encode()
        if user is None or not hmac.compare_digest(password, user.password.encode()):
            return None
        return user

    # -- answers ---------------------------------------------------------------------------

    def _login_page(
        self,
        interaction: Interaction,
        *,
        error: str | None = None,
        username: str | None = None,
        status: int = 200,
    ) -> Response:
        auth = interaction.request
        users_hint = ", ".join(f"{u.username}/{u.password}" for u in self._ctx.users.values())
        return render_page(
            "login.html",
            status=status,
            action=self._ctx.config.url("/login"),
            interaction=interaction.id,
            client_id=auth.client_id,
            client_name=self._ctx.clients[auth.client_id].client_name,
            scopes=auth.scopes,
            error=error,
            username=username if username is not None else auth.login_hint or "",
            users_hint=users_hint,
            details=auth.authorization_details,
        )

    def _send_code(self, auth: AuthRequest, session: OPSession) -> Response:
        code = self._ctx.store.new_code(auth, session, self._ctx.config.code_ttl)
        return self._send(_Reply.to(auth), {"code": code})

    def _send(self, reply: _Reply, params: dict[str, str]) -> Response:
        if reply.state is not None:
            params = {**params, "state": reply.state}
        params = {**params, "iss": self._ctx.config.issuer}
        if reply.response_mode in _JWT_MODES:
            params = {"response": self._response_jwt(reply, params)}
        if reply.response_mode in ("form_post", "form_post.jwt"):
            return render_page("form_post.html", redirect_uri=reply.redirect_uri, params=params)
        return redirect_with(reply.redirect_uri, params)

    def _response_jwt(self, reply: _Reply, params: dict[str, str]) -> str:
        """JARM 2.1: the response's parameters as the claims of a JWT signed with the
        provider's key, for the client (``aud``), short-lived (``exp``)."""
        now = self._ctx.config.now()
        claims = {"aud": reply.client_id, "exp": now + _RESPONSE_JWT_TTL, "iat": now, **params}
        return self._ctx.keys.sign(claims)


def _code_challenge(params: dict[str, str]) -> str:
    challenge = params.get("code_challenge")
    if challenge is None:
        raise OAuthError("invalid_request", "code_challenge is required (PKCE)")
    if params.get("code_challenge_method") != "S256":
        raise OAuthError("invalid_request", "code_challenge_method must be S256 (plain is refused)")
    if not _CHALLENGE.fullmatch(challenge):
        raise OAuthError("invalid_request", "code_challenge must be 43 base64url characters")
    return challenge


def _prompt(value: str) -> frozenset[str]:
    prompt = frozenset(value.split())
    if not prompt <= _PROMPTS:
        raise OAuthError("invalid_request", f"unsupported prompt value: {value}")
    if "none" in prompt and len(prompt) > 1:
        raise OAuthError("invalid_request", "prompt=none cannot be combined with other values")
    return prompt


def _max_age(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not value.isascii():
        raise OAuthError("invalid_request", "max_age must be a non-negative integer")
    return int(value)
