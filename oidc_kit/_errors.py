"""The one error tree of oidc_kit.

Every error carries a stable, machine-readable ``code`` (what a JSON client receives as
``error``), the HTTP ``status`` the Starlette integration answers with, and, where they help,
the ``expected`` and ``actual`` values. Messages never contain a token.

    OIDCError
    ├── ConfigurationError            configuration_error    (500: the app is misconfigured)
    ├── StoreUnavailable              session_store_unavailable (503)
    ├── ProviderError                 provider_error         (502)
    │   ├── ProviderUnavailable       provider_unavailable   (503)
    │   ├── ResponseTooLarge          response_too_large     (502)
    │   ├── IntrospectionFailed       invalid_introspection, introspection_failed, ...
    │   └── DiscoveryError            invalid_discovery      (502)
    ├── LoginError                    (400 unless noted)
    │   ├── InvalidLoginRequest       invalid_login_request  (bad /auth/login parameters)
    │   ├── InvalidState              invalid_state
    │   ├── InvalidCallback           invalid_request
    │   ├── AuthorizationFailed       access_denied, login_required, ... (the provider's code)
    │   ├── IssuerMismatch            invalid_issuer
    │   ├── InvalidIdToken            invalid_id_token
    │   ├── InvalidResponseJwt        invalid_response_jwt   (JARM; encrypted_response_unsupported)
    │   ├── InvalidUserinfo           invalid_userinfo
    │   ├── AuthorizationDetailsMismatch authorization_details_mismatch (403, RFC 9396)
    │   └── TokenRequestFailed        invalid_grant, token_request_failed, ...
    ├── InvalidLogoutToken            invalid_logout_token   (400)
    ├── CrossSiteRequest              cross_site_request     (403)
    ├── MethodNotAllowed              method_not_allowed     (405: with Allow)
    ├── LoginDenied                   login_denied           (403: the app's on_login hook)
    ├── RequestTooLarge               request_too_large      (413: a POST body over the limit)
    ├── UnsupportedMediaType          unsupported_media_type (415: a POST body not form-encoded)
    ├── StepUpRequired                insufficient_user_authentication (401, RFC 9470)
    ├── InsufficientScope             insufficient_scope     (403)
    ├── InsufficientClaims            insufficient_claims    (403: a route's claims=)
    └── SessionError                  (401)
        ├── LoginRequired             login_required
        ├── SessionEnded              login_required         (refresh refused: session ended)
        └── UnknownSession            unknown_session        (404: no such session of yours)
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthorizationDetailsMismatch",
    "AuthorizationFailed",
    "ConfigurationError",
    "CrossSiteRequest",
    "DiscoveryError",
    "InsufficientClaims",
    "InsufficientScope",
    "IntrospectionFailed",
    "InvalidCallback",
    "InvalidIdToken",
    "InvalidLoginRequest",
    "InvalidLogoutToken",
    "InvalidResponseJwt",
    "InvalidState",
    "InvalidUserinfo",
    "IssuerMismatch",
    "LoginDenied",
    "LoginError",
    "LoginRequired",
    "MethodNotAllowed",
    "OIDCError",
    "ProviderError",
    "ProviderUnavailable",
    "PushedRequestFailed",
    "RequestTooLarge",
    "ResponseTooLarge",
    "SessionEnded",
    "SessionError",
    "StepUpRequired",
    "StoreUnavailable",
    "TokenRequestFailed",
    "UnboundToken",
    "UnknownSession",
    "UnsupportedMediaType",
]

_UNSET: Any = object()


class OIDCError(Exception):
    """Base of every oidc_kit error: a stable ``code``, an HTTP ``status``, a description."""

    code: ClassVar[str] = "oidc_error"
    status: ClassVar[int] = 400

    def __init__(
        self,
        description: str,
        *,
        code: str | None = None,
        expected: Any = _UNSET,
        actual: Any = _UNSET,
    ) -> None:
        super().__init__(description)
        self.description = description
        if code is not None:
            self.code = code  # type: ignore[misc]  # an instance may narrow its class code
        self.expected = None if expected is _UNSET else expected
        self.actual = None if actual is _UNSET else actual
        self._has_values = expected is not _UNSET or actual is not _UNSET

    def __str__(self) -> str:
        if not self._has_values:
            return f"{self.code}: {self.description}"
        return f"{self.code}: {self.description} (expected {self.expected!r}, got {self.actual!r})"

    def as_dict(self) -> dict[str, str]:
        """The JSON body a client receives: ``{"error": code, "error_description": text}``."""
        return {"error": self.code, "error_description": self.description}


class ConfigurationError(OIDCError):
    """The kit is configured in a way it refuses (an ``http://`` issuer, the ``none`` alg...)."""

    code = "configuration_error"
    status = 500


class StoreUnavailable(OIDCError):
    """The session store (Redis, the SQLite file) did not answer in time or at all."""

    code = "session_store_unavailable"
    status = 503


class ProviderError(OIDCError):
    """The OpenID Provider answered something the kit cannot use."""

    code = "provider_error"
    status = 502


class ProviderUnavailable(ProviderError):
    """The provider could not be reached, timed out, or answered 5xx."""

    code = "provider_unavailable"
    status = 503


class ResponseTooLarge(ProviderError):
    """A provider's answer (discovery, JWKS, token, userinfo) is larger than the kit reads."""

    code = "response_too_large"


class DiscoveryError(ProviderError):
    """The discovery document or JWKS is invalid (wrong issuer, missing endpoints, bad keys)."""

    code = "invalid_discovery"


class UnboundToken(ProviderError):
    """DPoP was asked for but the provider issued a ``Bearer`` token, which anyone who sees
    it could use: refused (a FAPI 2.0 client must hold sender-constrained tokens)."""

    code = "unbound_token"


class PushedRequestFailed(ProviderError):
    """The provider refused or mangled a pushed authorization request (RFC 9126)."""

    code = "par_failed"


class IntrospectionFailed(ProviderError):
    """Token introspection (RFC 7662) gave no usable answer: the endpoint refused the request
    (``introspection_failed``), its answer is not RFC 7662's or fails a check, such as another
    issuer or client (``invalid_introspection``), or the provider has no introspection
    endpoint (``introspection_unsupported``)."""

    code = "invalid_introspection"


class LoginError(OIDCError):
    """The login (authorization response, code exchange, ID token) failed. No session is made."""

    code = "login_failed"
    status = 400


class InvalidLoginRequest(LoginError):
    """``/auth/login`` was called with a malformed ``max_age``, ``acr_values`` or ``prompt``."""

    code = "invalid_login_request"


class InvalidState(LoginError):
    """The callback's ``state`` is missing, unknown, expired, reused or not this browser's."""

    code = "invalid_state"


class InvalidCallback(LoginError):
    """The callback's parameters are malformed (no ``code``, duplicated parameters...)."""

    code = "invalid_request"


class AuthorizationFailed(LoginError):
    """The provider answered the authorization request with an ``error`` parameter."""

    code = "access_denied"
    status = 401

    #: Provider error codes passed through as they are (OpenID Connect Core 3.1.2.6, RFC 6749).
    KNOWN_CODES: ClassVar[frozenset[str]] = frozenset(
        {
            "access_denied",
            "login_required",
            "consent_required",
            "interaction_required",
            "account_selection_required",
            "invalid_request",
            "invalid_scope",
            "unauthorized_client",
            "unsupported_response_type",
            "server_error",
            "temporarily_unavailable",
        }
    )


class IssuerMismatch(LoginError):
    """An issuer (discovery, RFC 9207 ``iss`` parameter, ID token) is not the configured one."""

    code = "invalid_issuer"


class InvalidIdToken(LoginError):
    """The ID token failed validation: signature, ``iss``, ``aud``, ``exp``, ``nonce``..."""

    code = "invalid_id_token"


class InvalidResponseJwt(LoginError):
    """A JWT-secured authorization response (JARM) failed validation: missing, encrypted
    (``encrypted_response_unsupported``), its algorithm, signature, ``iss``, ``aud``, ``exp``."""

    code = "invalid_response_jwt"


class InvalidUserinfo(LoginError):
    """The userinfo response is unusable or its ``sub`` differs from the ID token's."""

    code = "invalid_userinfo"


class AuthorizationDetailsMismatch(LoginError):
    """The provider granted other ``authorization_details`` (RFC 9396) than the login asked
    for, or none: the login is refused (no session), and a refresh answered so ends the
    session."""

    code = "authorization_details_mismatch"
    status = 403


class TokenRequestFailed(LoginError):
    """The token endpoint refused a grant; ``code`` is the provider's (``invalid_grant``...)."""

    code = "token_request_failed"


class InvalidLogoutToken(OIDCError):
    """A back-channel ``logout_token`` failed validation."""

    code = "invalid_logout_token"


class CrossSiteRequest(OIDCError):
    """A state-changing request (logout) came from another site."""

    code = "cross_site_request"
    status = 403


class MethodNotAllowed(OIDCError):
    """A request to one of the kit's routes with a method the route does not take (its
    answer names the ones it does, in ``Allow``)."""

    code = "method_not_allowed"
    status = 405


class RequestTooLarge(OIDCError):
    """A POST to one of the kit's routes has a larger body, or more form fields, than the kit
    reads: refused before it is parsed."""

    code = "request_too_large"
    status = 413


class UnsupportedMediaType(OIDCError):
    """A POST to a route that reads a form has a body that is not
    ``application/x-www-form-urlencoded``."""

    code = "unsupported_media_type"
    status = 415


class LoginDenied(OIDCError):
    """The app's ``on_login`` hook refused this user: no session is made, and the browser is
    shown ``page`` (a template name; the kit's ``oidc_kit/denied.html`` by default) with
    ``context``. The description is shown to the user: say what they can do."""

    code = "login_denied"
    status = 403

    def __init__(
        self,
        description: str = "This account cannot sign in here.",
        *,
        page: str = "denied",
        context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.page = page
        self.context = dict(context or {})


class StepUpRequired(OIDCError):
    """The session is logged in, but its authentication is too old or too weak for this route.

    RFC 9470's error: JSON clients get 401 with a ``WWW-Authenticate: Bearer
    error="insufficient_user_authentication"`` challenge naming ``acr_values``/``max_age``;
    browsers are sent to log in again with them. The session itself stays valid.
    """

    code = "insufficient_user_authentication"
    status = 401

    def __init__(
        self,
        description: str = "a more recent or stronger authentication is required",
        *,
        max_age: int | None = None,
        acr_values: tuple[str, ...] = (),
        prompt: str | None = None,
        authorization_details: str | None = None,
    ) -> None:
        super().__init__(description)
        #: RFC 9396: the authorization details the route needs granted (canonical JSON).
        self.authorization_details = authorization_details
        #: What the route asks (none of them: the error says only that the session falls
        #: short). The kit's exception handler answers with them: the step-up login's
        #: parameters for a browser, the ``WWW-Authenticate`` challenge's for an API client.
        self.max_age = max_age
        self.acr_values = tuple(acr_values)
        self.prompt = prompt

    @property
    def requirements(self) -> bool:
        """Whether the error says what the route asks (else a plain 401 answers it)."""
        return (
            self.max_age is not None
            or bool(self.acr_values)
            or self.prompt is not None
            or self.authorization_details is not None
        )


class InsufficientScope(OIDCError):
    """The session is logged in, but its access token was not granted a scope the route needs.

    ``expected`` lists the scopes the route requires, ``actual`` those granted. Logging in
    again helps only if the app asks for the scope (``OIDC_SCOPES``) and the provider grants
    it; the session itself stays valid.
    """

    code = "insufficient_scope"
    status = 403


class InsufficientClaims(OIDCError):
    """The session is logged in, but its claims do not meet what the route requires
    (``login_required(claims=...)``, ``requires_claims(...)``): an unverified e-mail address,
    no customer number.

    ``expected`` names the claims not met (never their values). Browsers get a 403 page, not
    a redirect to log in: the same login would bring the same claims back (a loop). The
    session itself stays valid.
    """

    code = "insufficient_claims"
    status = 403


class SessionError(OIDCError):
    """No usable session for this request."""

    code = "login_required"
    status = 401


class LoginRequired(SessionError):
    """The request has no session, or it expired: log in."""


class SessionEnded(SessionError):
    """The session was ended (the provider refused its refresh token, or it was logged out)."""


class UnknownSession(SessionError):
    """The session handle a user asked to revoke (``POST {prefix}/sessions/{handle}/revoke``)
    names none of their live sessions: already ended, mistyped, or someone else's (which is
    never told apart from one that does not exist)."""

    code = "unknown_session"
    status = 404
