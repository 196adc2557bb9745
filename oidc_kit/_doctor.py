"""The checks behind ``oidc-kit doctor``: is this provider, and this client, fit for the kit?

Each check is a small function returning a :class:`Check`: a name, a status (``ok``, ``warn``,
``fail``, ``skip``) and a one-line detail. :func:`diagnose` runs them all over an
``httpx.AsyncClient`` the caller passes (tests give it a transport) and returns a
:class:`Report`. No check raises: a network error is a ``fail`` of the check that needed the
network. The client secret and any token never enter a detail; as a last guard every detail
is scrubbed of the secret's forms and made printable, one line.
"""

from __future__ import annotations

import base64
import secrets
import ssl
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import SplitResult, quote_plus, urlsplit

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from ._algorithms import advertised_algs, effective_algs
from ._client_auth import client_authentication
from ._config import (
    DEFAULT_ID_TOKEN_ALGS,
    FAPI2_ID_TOKEN_ALGS,
    OIDCConfig,
    alg_refusal,
    is_loopback,
)
from ._dpop import DPOP_ALG
from ._errors import OIDCError, ProviderError
from ._http import json_object
from ._provider import (
    _KEY_CLASSES,
    MAX_JWKS_BYTES,
    MAX_JWKS_KEYS,
    ProviderMetadata,
    _parse_metadata,
    key_weakness,
)
from ._rfc8414 import SECOND_SOURCE_ENDPOINTS, needs_oauth_metadata, oauth_metadata_url
from ._tokens import TokenSet

__all__ = ["Check", "DoctorSettings", "Report", "Status", "diagnose"]

Status = Literal["ok", "warn", "fail", "skip"]
"""A check's outcome; only ``fail`` makes the report (and the command) fail."""

#: Statuses, best first; a check made of several findings takes the worst.
_RANK: tuple[Status, ...] = ("ok", "skip", "warn", "fail")
#: The kit's default tolerance on ``iat``/``exp``: beyond it, ID tokens are refused.
CLOCK_LEEWAY: int = OIDCConfig.clock_leeway
#: Skew below this is ordinary (the ``Date`` header has one-second resolution).
CLOCK_OK = 5
_RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGS = {"P-256": {"ES256"}, "P-384": {"ES384"}, "P-521": {"ES512"}}
#: JWK members that only a private (or symmetric) key has (RFC 7518 6.2.2, 6.3.2, 6.4).
_PRIVATE_MEMBERS = {
    "RSA": {"d", "p", "q", "dp", "dq", "qi", "oth"},
    "EC": {"d"},
    "OKP": {"d"},
    "oct": {"k"},
}
_MAX_DETAIL = 400


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``name``, ``status`` and a one-line ``detail``."""

    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class DoctorSettings:
    """What to check: the provider's issuer and the client as the app would configure it."""

    issuer: str
    client_id: str
    #: Never shown: not in ``repr``, and scrubbed from every detail.
    client_secret: str | None = field(default=None, repr=False)
    #: The redirect URI to check (``{APP_BASE_URL}/auth/callback``), if any.
    redirect_uri: str | None = None
    #: Perform a client-credentials grant (needs ``client_secret``).
    client_credentials: bool = False
    #: Scopes for that grant.
    scopes: tuple[str, ...] = ()
    #: Accept plain http on loopback hosts, as ``OIDC_ALLOW_INSECURE_HTTP`` does.
    allow_insecure_http: bool = False
    #: Check what the FAPI 2.0 profile (``OIDC_PROFILE=fapi2``) needs of the provider.
    fapi2: bool = False
    #: The client's registered ``id_token_signed_response_alg`` (``OIDC_ID_TOKEN_ALG``): then
    #: the only algorithm the kit accepts on ID and logout tokens.
    id_token_alg: str | None = None
    #: The endpoints the app's configuration sets (``OIDC_REVOCATION_ENDPOINT``,
    #: ``OIDC_INTROSPECTION_ENDPOINT``), which win over the provider's metadata.
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None


@dataclass(frozen=True)
class Report:
    """Every check's outcome for one issuer; ``ok`` when none failed."""

    issuer: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings and skips do not count)."""
        return all(check.status != "fail" for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """``{"issuer", "ok", "checks": [{"name", "status", "detail"}]}``, for ``--json``."""
        checks = [{"name": c.name, "status": c.status, "detail": c.detail} for c in self.checks]
        return {"issuer": self.issuer, "ok": self.ok, "checks": checks}


@dataclass(frozen=True)
class Fetched:
    """One GET of a JSON document: the object, or why there is none."""

    body: dict[str, Any] | None
    error: str | None = None
    #: The failure was TLS (certificate verification, handshake).
    tls_error: bool = False
    #: The response's ``Date`` header, and the local time it arrived (None: no response).
    date: str | None = None
    received_at: float | None = None
    #: The body's length in bytes.
    size: int = 0


async def diagnose(
    settings: DoctorSettings, http: httpx.AsyncClient, *, clock: Callable[[], float] = time.time
) -> Report:
    """Run every check against ``settings.issuer`` through ``http``."""
    discovery = await fetch_json(http, discovery_url(settings.issuer), clock)
    doc = discovery.body
    checks = [check_discovery(settings.issuer, discovery), check_tls(settings, discovery)]
    if doc is None:
        names: tuple[str, ...] = ("jwks", "algorithms", "pkce", "response_types", "response_modes")
        names += ("iss_parameter", "end_session", "revocation", "endpoints")
        names += ("token_auth_methods", "fapi2")
        checks += [Check(name, "skip", "no discovery document") for name in names]
    else:
        endpoints = await locate_endpoints(http, settings, doc, clock)
        checks += [
            await check_jwks(http, doc, clock, id_token_algs(doc, settings)),
            check_algorithms(doc, settings),
            check_pkce(doc),
            check_response_types(doc),
            check_response_modes(doc),
            check_iss_parameter(doc),
            check_end_session(doc),
            check_revocation(doc, endpoints),
            check_endpoints(endpoints),
            check_token_auth_methods(doc, bool(settings.client_secret)),
            check_fapi2(doc, settings.fapi2),
        ]
    checks.append(check_clock_skew(discovery))
    checks.append(check_redirect_uri(settings.redirect_uri, settings.allow_insecure_http))
    checks.append(await check_client_credentials(http, settings, doc, clock))
    hidden = _secret_forms(settings)
    return Report(settings.issuer, tuple(_clean(check, hidden) for check in checks))


def discovery_url(issuer: str) -> str:
    """``{issuer}/.well-known/openid-configuration``, as the kit builds it."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


async def fetch_json(http: httpx.AsyncClient, url: str, clock: Callable[[], float]) -> Fetched:
    """GET ``url`` expecting a JSON object; any failure is described, never raised."""
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # ValueError: a bad URL
        return Fetched(None, describe_http_error(exc), tls_error=_ssl_cause(exc) is not None)
    date, received_at = response.headers.get("date"), clock()
    if response.status_code != 200:
        moved = response.headers.get("location")
        error = f"HTTP {response.status_code}" + (f" (to {moved})" if moved else "")
        return Fetched(None, error, date=date, received_at=received_at)
    try:
        body = json_object(response, ProviderError, url)
    except ProviderError as exc:
        return Fetched(None, exc.description, date=date, received_at=received_at)
    return Fetched(body, date=date, received_at=received_at, size=len(response.content))


def describe_http_error(exc: Exception) -> str:
    """A readable line for a failed request: TLS failures say what the certificate lacks."""
    cause = _ssl_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {cause.verify_message or cause.reason}"
    if cause is not None:
        return f"TLS handshake failed: {cause.reason or cause}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def check_discovery(issuer: str, fetched: Fetched) -> Check:
    """The document is there, names exactly ``issuer``, and has the endpoints the kit needs."""
    url = discovery_url(issuer)
    if fetched.body is None:
        return Check("discovery", "fail", f"could not fetch {url}: {fetched.error}")
    found = fetched.body.get("issuer")
    if found != issuer:
        detail = f"issuer mismatch: the document says {found!r}, expected {issuer!r} (exact)"
        return Check("discovery", "fail", detail)
    required = ("authorization_endpoint", "token_endpoint", "jwks_uri")
    missing = [name for name in required if not isinstance(fetched.body.get(name), str)]
    if missing:
        return Check("discovery", "fail", "missing " + ", ".join(missing))
    return Check("discovery", "ok", f"{url}: issuer matches")


def check_tls(settings: DoctorSettings, fetched: Fetched) -> Check:
    """https for the issuer and every endpoint (plain http: loopback, explicitly allowed)."""
    if fetched.tls_error:
        return Check("tls", "fail", f"{settings.issuer}: {fetched.error}")
    doc = fetched.body or {}
    urls: dict[str, Any] = {"issuer": settings.issuer}
    urls |= {k: v for k, v in doc.items() if k.endswith("_endpoint") or k == "jwks_uri"}
    status = {name: _scheme_status(url, settings.allow_insecure_http) for name, url in urls.items()}
    findings: list[tuple[Status, str]] = []
    if bad := [name for name, s in status.items() if s == "fail"]:
        rule = "plain http only on loopback, with --allow-insecure-http"
        if "issuer" in bad:
            also = f", nor are {len(bad) - 1} of its endpoints" if len(bad) > 1 else ""
            findings.append(("fail", f"the issuer is not https{also} ({rule})"))
        else:
            listed = ", ".join(f"{name} {urls[name]!r}" for name in bad)
            findings.append(("fail", f"not https: {listed} ({rule})"))
    if "warn" in status.values():
        findings.append(
            ("warn", "plain http on loopback (--allow-insecure-http): development only")
        )
    what = f"the issuer and {len(urls) - 1} endpoints" if doc else "the issuer"
    return _verdict("tls", findings, f"https for {what}")


def _scheme_status(url: Any, allow_insecure_http: bool) -> Status:
    parts = _split(url)
    if parts is None or not parts.hostname:
        return "fail"
    scheme = parts.scheme
    if scheme == "https":
        return "ok"
    return "warn" if scheme == "http" and allow_insecure_http and is_loopback(url) else "fail"


async def check_jwks(
    http: httpx.AsyncClient,
    doc: Mapping[str, Any],
    clock: Callable[[], float],
    algs: frozenset[str],
) -> Check:
    """Fetch ``jwks_uri`` and judge its keys for ``algs`` (see :func:`judge_jwks`); larger
    than the kit reads (``MAX_JWKS_BYTES``) fails."""
    uri = doc.get("jwks_uri")
    parts = _split(uri)
    if not isinstance(uri, str) or parts is None or parts.scheme not in ("http", "https"):
        return Check("jwks", "fail", f"jwks_uri is not an http(s) URL: {uri!r}")
    fetched = await fetch_json(http, uri, clock)
    if fetched.body is None:
        return Check("jwks", "fail", f"could not fetch {uri}: {fetched.error}")
    if fetched.size > MAX_JWKS_BYTES:
        detail = f"{fetched.size} bytes: the kit refuses a JWKS of more than {MAX_JWKS_BYTES}"
        return Check("jwks", "fail", detail)
    return judge_jwks(fetched.body, algs)


def _allowlist(settings: DoctorSettings) -> tuple[str, ...]:
    """The kit's default ``id_token_algs``, or the FAPI 2.0 profile's with ``--fapi2``."""
    return FAPI2_ID_TOKEN_ALGS if settings.fapi2 else DEFAULT_ID_TOKEN_ALGS


def _registered_refusal(settings: DoctorSettings) -> str | None:
    """Why the kit would refuse ``--id-token-alg`` at start-up (as ``OIDCConfig`` does)."""
    alg = settings.id_token_alg
    if alg is None:
        return None
    if settings.fapi2 and alg not in FAPI2_ID_TOKEN_ALGS:
        return "the fapi2 profile allows only " + ", ".join(FAPI2_ID_TOKEN_ALGS)
    return alg_refusal(alg, has_secret=bool(settings.client_secret))


def id_token_algs(doc: Mapping[str, Any], settings: DoctorSettings) -> frozenset[str]:
    """The asymmetric algorithms the kit will accept from this provider (the kit's rule,
    :func:`effective_algs`), which its JWKS must serve; the allowlist when there are none
    (the ``algorithms`` check reports why)."""
    registered = None if _registered_refusal(settings) else settings.id_token_alg
    algs = effective_algs(_allowlist(settings), registered, advertised_algs(doc))
    return frozenset(a for a in algs if not a.startswith("HS")) or frozenset(_allowlist(settings))


@dataclass(frozen=True)
class _Key:
    label: str
    kind: str
    #: Why it cannot verify the kit's ID tokens; None when it can.
    problem: str | None
    private: bool = False
    encryption: bool = False
    has_kid: bool = False


def judge_jwks(jwks: Mapping[str, Any], algs: frozenset[str]) -> Check:
    """Private material or duplicate kids fail; so does having no key usable for ``algs``."""
    raw_keys = jwks.get("keys")
    if not isinstance(raw_keys, list):
        return Check("jwks", "fail", "the JWKS has no keys array")
    if len(raw_keys) > MAX_JWKS_KEYS:
        detail = f"{len(raw_keys)} keys: the kit refuses a JWKS of more than {MAX_JWKS_KEYS}"
        return Check("jwks", "fail", detail)
    keys = [_inspect_key(i, raw, algs) for i, raw in enumerate(raw_keys)]
    kids = Counter(k.label for k in keys if k.has_kid)
    duplicates = sorted(label for label, n in kids.items() if n > 1)
    usable = [k for k in keys if k.problem is None]
    findings: list[tuple[Status, str]] = []
    if private := [k.label for k in keys if k.private]:
        findings.append(("fail", "private key material published: " + ", ".join(private)))
    if duplicates:
        findings.append(("fail", "duplicate kid " + ", ".join(duplicates)))
    unusable = "; ".join(f"{k.label} ({k.kind}): {k.problem}" for k in keys if k.problem)
    if not usable:
        findings.append(("fail", f"no usable keys: {unusable or 'the JWKS is empty'}"))
    elif odd := [k for k in keys if k.problem and not k.encryption]:
        findings.append(("warn", "unusable: " + "; ".join(f"{k.label}: {k.problem}" for k in odd)))
    if no_kid := [k.label for k in usable if not k.has_kid]:
        findings.append(("warn", f"{', '.join(no_kid)} without kid: tokens are matched by kid"))
    good = ", ".join(f"{k.label} ({k.kind})" for k in usable)
    return _verdict("jwks", findings, f"{len(keys)} key(s); usable for ID tokens: {good}")


def _inspect_key(index: int, raw: Any, algs: frozenset[str]) -> _Key:
    """One JWK: its label and kind, whether it is private, why it is unusable if it is."""
    if not isinstance(raw, dict):
        return _Key(f"key #{index + 1}", "?", "not a JSON object")
    kid = raw.get("kid")
    has_kid = isinstance(kid, str) and kid != ""
    label = f"kid {kid!r}" if has_kid else f"key #{index + 1}"
    kty = str(raw.get("kty"))
    private = bool(_PRIVATE_MEMBERS.get(kty, set()) & raw.keys())
    known = {"private": private, "encryption": raw.get("use") == "enc", "has_kid": has_kid}
    key_class = _KEY_CLASSES.get(kty)
    if key_class is None:
        return _Key(label, f"kty {kty}", "not a signature key type", **known)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # joserfc warns of weak keys; reported below
            key = key_class.import_key(raw)
    except (JoseError, ValueError, TypeError, KeyError):
        return _Key(label, kty, "joserfc cannot import it", **known)
    kind, key_algs, weakness = _strength(key)
    known["private"] = private or key.is_private
    alg = raw.get("alg")
    allowed = key_algs if alg is None else {alg} if isinstance(alg, str) else set()
    fitting = key_algs & algs & allowed
    if raw.get("use", "sig") != "sig":
        problem: str | None = f"use {raw.get('use')!r}, not sig"
    elif weakness or not fitting:
        problem = weakness or f"fits none of {', '.join(sorted(algs))}"
    else:
        problem, kind = None, f"{kind}, {'/'.join(sorted(fitting))}"
    return _Key(label, kind, problem, **known)


def _strength(key: RSAKey | ECKey | OKPKey) -> tuple[str, frozenset[str], str | None]:
    """A key's description, the algorithms it can verify, and its weakness if any (the
    kit's own rule, :func:`key_weakness`: a key the doctor passes is one the kit uses)."""
    weak = key_weakness(key)
    if isinstance(key, RSAKey):
        return f"RSA {key.public_key.key_size} bits", _RSA_ALGS, weak
    curve = str(key.curve_name)
    if isinstance(key, ECKey):
        return f"EC {curve}", frozenset(_EC_ALGS.get(curve, ())), weak
    return f"OKP {curve}", frozenset() if weak else frozenset({"EdDSA"}), weak


def check_algorithms(doc: Mapping[str, Any], settings: DoctorSettings) -> Check:
    """The algorithms the kit will accept on this provider's ID and logout tokens, by the
    kit's own rule (:mod:`._algorithms`): ``--id-token-alg`` when given, else the kit's
    allowlist ∩ ``id_token_signing_alg_values_supported`` (RS256 when absent)."""
    advertised = advertised_algs(doc)
    offered = ", ".join(advertised or ()) or "nothing"
    if settings.id_token_alg is not None:
        return _check_registered_alg(settings, settings.id_token_alg, advertised, offered)
    allowlist = _allowlist(settings)
    kit = ", ".join(allowlist)
    effective = effective_algs(allowlist, None, advertised)
    if not effective:
        assumed = " (none advertised: RS256 assumed)" if advertised is None else ""
        detail = f"no algorithm in common: the provider signs with {offered}{assumed}; "
        return Check("algorithms", "fail", detail + f"the kit accepts {kit}")
    accepted = f"ID and logout tokens in {', '.join(effective)}"
    findings: list[tuple[Status, str]] = []
    if advertised is None:
        assumed = "RS256 assumed (OpenID Connect Registration's default)"
        detail = f"{accepted}: no id_token_signing_alg_values_supported, {assumed}"
        findings.append(("warn", detail))
    elif "none" in advertised:
        findings.append(("warn", f"{accepted}, but 'none' is advertised (the kit refuses it)"))
    return _verdict("algorithms", findings, f"{accepted} (the provider's {offered} ∩ {kit})")


def _check_registered_alg(
    settings: DoctorSettings, alg: str, advertised: tuple[str, ...] | None, offered: str
) -> Check:
    """``--id-token-alg``: exactly that algorithm, if the kit allows it; the provider should
    advertise it."""
    if refusal := _registered_refusal(settings):
        return Check("algorithms", "fail", f"--id-token-alg {alg}: {refusal}")
    accepted = f"ID and logout tokens in {alg} (registered id_token_signed_response_alg)"
    if advertised is not None and alg not in advertised:
        detail = f"{accepted}, which the provider does not advertise ({offered})"
        return Check("algorithms", "warn", detail)
    return Check("algorithms", "ok", accepted)


def check_pkce(doc: Mapping[str, Any]) -> Check:
    """``S256`` is a supported code challenge method: the kit always sends it."""
    methods = _strings(doc, "code_challenge_methods_supported")
    if methods and "S256" in methods:
        return Check("pkce", "ok", "S256 supported")
    offered = ", ".join(methods) if methods else "none advertised"
    return Check("pkce", "fail", f"S256 not supported ({offered}); the kit always uses S256")


def check_response_types(doc: Mapping[str, Any]) -> Check:
    """``code`` is a supported response type: the kit's only flow."""
    types = _strings(doc, "response_types_supported") or []
    if "code" in types:
        return Check("response_types", "ok", "code supported")
    offered = ", ".join(types) or "none"
    return Check("response_types", "fail", f"code not supported ({offered}); the kit needs it")


def check_response_modes(doc: Mapping[str, Any]) -> Check:
    """``query`` (the kit's default), or at least ``form_post`` (``OIDC_RESPONSE_MODE``)."""
    modes = _strings(doc, "response_modes_supported")
    if modes is None:
        return Check("response_modes", "ok", "not advertised: query (the default) assumed")
    if "query" in modes:
        post = "form_post also" if "form_post" in modes else "no form_post"
        return Check("response_modes", "ok", f"query supported; {post}")
    if "form_post" in modes:
        detail = "no query; set OIDC_RESPONSE_MODE=form_post"
        return Check("response_modes", "warn", detail)
    return Check("response_modes", "fail", f"neither query nor form_post ({', '.join(modes)})")


def check_iss_parameter(doc: Mapping[str, Any]) -> Check:
    """RFC 9207: the provider names itself in authorization responses (mix-up defence)."""
    if doc.get("authorization_response_iss_parameter_supported") is True:
        return Check("iss_parameter", "ok", "RFC 9207 iss parameter sent; the kit checks it")
    detail = "no RFC 9207 iss parameter: mix-up defence weaker (the ID token's iss remains)"
    return Check("iss_parameter", "warn", detail)


def check_end_session(doc: Mapping[str, Any]) -> Check:
    """An ``end_session_endpoint`` for RP-initiated logout."""
    if isinstance(url := doc.get("end_session_endpoint"), str):
        return Check("end_session", "ok", f"logout redirects to {url}")
    detail = "no end_session_endpoint: logout ends the app's session only, not the provider's"
    return Check("end_session", "warn", detail)


@dataclass(frozen=True)
class Endpoints:
    """The endpoints as the kit would find them (its own :func:`_parse_metadata`), or why it
    would refuse the provider; and what became of RFC 8414 metadata if it was read."""

    meta: ProviderMetadata | None
    refusal: str | None = None
    #: Why RFC 8414 metadata, read because discovery has no revocation endpoint, was not used.
    oauth_note: str | None = None
    #: That metadata names another issuer: ignored, but worth a warning.
    oauth_mismatch: bool = False


async def locate_endpoints(
    http: httpx.AsyncClient,
    settings: DoctorSettings,
    doc: Mapping[str, Any],
    clock: Callable[[], float],
) -> Endpoints:
    """Read RFC 8414 metadata where the kit would (discovery lacks a revocation endpoint and
    the settings name none), with the kit's issuer rule, and combine it as the kit does."""
    try:
        config = _kit_config(settings)
    except OIDCError as exc:
        return Endpoints(None, exc.description)
    oauth, note, mismatch = None, None, False
    if needs_oauth_metadata(doc, config):
        url = oauth_metadata_url(settings.issuer)
        fetched = await fetch_json(http, url, clock)
        if fetched.body is None:
            note = f"no RFC 8414 metadata at {url} ({fetched.error})"
        elif (found := fetched.body.get("issuer")) != settings.issuer:
            note = f"RFC 8414 metadata at {url} ignored: its issuer {found!r} is not the issuer"
            mismatch = True
        else:
            oauth = fetched.body
    try:
        meta = _parse_metadata(dict(doc), config, oauth)
    except OIDCError as exc:
        return Endpoints(None, exc.description, note, mismatch)
    return Endpoints(meta, None, note, mismatch)


def check_revocation(doc: Mapping[str, Any], endpoints: Endpoints) -> Check:
    """A ``revocation_endpoint`` (RFC 7009), where logout revokes the tokens: from discovery,
    RFC 8414 metadata or the settings, as the kit finds it."""
    meta = endpoints.meta
    if meta is None:  # the kit refuses the provider (other checks say why): discovery's
        url, source = doc.get("revocation_endpoint"), "openid-configuration"
    else:
        url = meta.revocation_endpoint
        source = meta.endpoint_sources.get("revocation_endpoint", "")
    if isinstance(url, str):
        return Check("revocation", "ok", f"logout revokes tokens at {url} (from {source})")
    detail = "no revocation_endpoint in discovery, RFC 8414 metadata or the settings: "
    detail += "tokens stay valid after logout until they expire"
    return Check("revocation", "warn", detail)


def _endpoint_label(name: str) -> str:
    """``revocation`` for ``revocation_endpoint``; ``par`` for the PAR endpoint's long name."""
    if name == "pushed_authorization_request_endpoint":
        return "par"
    return name.removesuffix("_endpoint")


def check_endpoints(endpoints: Endpoints) -> Check:
    """Where each endpoint the kit would use comes from: ``openid-configuration``,
    ``oauth-authorization-server`` (RFC 8414) or ``configuration``; a warning when RFC 8414
    metadata names another issuer (the kit ignores it)."""
    if endpoints.meta is None:
        return Check("endpoints", "skip", f"the kit refuses this provider: {endpoints.refusal}")
    by_source: dict[str, list[str]] = {}
    for name, source in endpoints.meta.endpoint_sources.items():
        by_source.setdefault(source, []).append(_endpoint_label(name))
    parts = [f"{', '.join(names)} from {source}" for source, names in by_source.items()]
    missing = [n for n in SECOND_SOURCE_ENDPOINTS if n not in endpoints.meta.endpoint_sources]
    if missing:
        parts.append("no " + ", ".join(_endpoint_label(n) for n in missing))
    if endpoints.oauth_note:
        parts.append(endpoints.oauth_note)
    return Check("endpoints", "warn" if endpoints.oauth_mismatch else "ok", "; ".join(parts))


def check_token_auth_methods(doc: Mapping[str, Any], has_secret: bool) -> Check:
    """With a secret: ``client_secret_basic`` or ``client_secret_post``, the kit's methods."""
    if not has_secret:
        return Check("token_auth_methods", "skip", "no client secret given")
    methods = _strings(doc, "token_endpoint_auth_methods_supported")
    if methods is None:
        return Check("token_auth_methods", "ok", "not advertised: client_secret_basic assumed")
    for method in ("client_secret_basic", "client_secret_post"):
        if method in methods:
            return Check("token_auth_methods", "ok", f"the kit will use {method}")
    detail = f"only {', '.join(methods) or 'nothing'}; the kit needs client_secret_basic or _post"
    return Check("token_auth_methods", "fail", detail)


def check_fapi2(doc: Mapping[str, Any], fapi2: bool) -> Check:
    """What ``profile="fapi2"`` needs of the provider: PAR, ``private_key_jwt``, DPoP with
    ES256 (the kit's proofs), the RFC 9207 ``iss`` parameter, and a FAPI 2.0 ID-token alg."""
    if not fapi2:
        return Check("fapi2", "skip", "not asked for (--fapi2, or OIDC_PROFILE=fapi2)")
    missing = []
    if not isinstance(doc.get("pushed_authorization_request_endpoint"), str):
        missing.append("a pushed_authorization_request_endpoint (PAR)")
    if "private_key_jwt" not in (_strings(doc, "token_endpoint_auth_methods_supported") or []):
        missing.append("private_key_jwt")
    if DPOP_ALG not in (_strings(doc, "dpop_signing_alg_values_supported") or []):
        missing.append(f"DPoP with {DPOP_ALG}")
    if doc.get("authorization_response_iss_parameter_supported") is not True:
        missing.append("the RFC 9207 iss parameter")
    if not set(FAPI2_ID_TOKEN_ALGS) & set(
        _strings(doc, "id_token_signing_alg_values_supported") or []
    ):
        missing.append("ID tokens in " + ", ".join(FAPI2_ID_TOKEN_ALGS))
    if missing:
        return Check("fapi2", "fail", "the provider does not offer " + "; ".join(missing))
    return Check("fapi2", "ok", "PAR, private_key_jwt, DPoP (ES256), iss and FAPI 2.0 algorithms")


def check_clock_skew(fetched: Fetched) -> Check:
    """The provider's ``Date`` against the local clock, within the kit's leeway."""
    if fetched.received_at is None:
        return Check("clock_skew", "skip", "no answer from the provider")
    if fetched.date is None:
        return Check("clock_skew", "skip", "the provider sent no Date header")
    try:
        sent = parsedate_to_datetime(fetched.date).timestamp() + 0.5  # Date drops fractions
    except (TypeError, ValueError):
        return Check("clock_skew", "skip", f"unreadable Date header {fetched.date!r}")
    skew = sent - fetched.received_at
    if round(skew) == 0:
        return Check("clock_skew", "ok", "the provider's clock agrees with this machine's")
    where = "ahead of" if skew > 0 else "behind"
    detail = f"the provider's clock is {round(abs(skew))} s {where} this machine's"
    if abs(skew) <= CLOCK_OK:
        return Check("clock_skew", "ok", f"{detail} (within {CLOCK_OK} s)")
    if abs(skew) <= CLOCK_LEEWAY:
        return Check("clock_skew", "warn", f"{detail} (the kit tolerates {CLOCK_LEEWAY} s)")
    detail += f": beyond the kit's {CLOCK_LEEWAY} s leeway, ID tokens will be refused"
    return Check("clock_skew", "fail", detail)


def check_redirect_uri(uri: str | None, allow_insecure_http: bool) -> Check:
    """Absolute, https (loopback http if allowed), no fragment, the kit's callback path."""
    if uri is None:
        return Check("redirect_uri", "skip", "not given (--redirect-uri)")
    parts = _split(uri)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return Check("redirect_uri", "fail", f"{uri!r} is not an absolute http(s) URL")
    findings: list[tuple[Status, str]] = []
    if parts.fragment or uri.endswith("#"):
        findings.append(("fail", "a redirect URI must not have a fragment"))
    status = _scheme_status(uri, allow_insecure_http)
    if status != "ok":
        plain = "plain http on loopback (--allow-insecure-http): development only"
        findings.append((status, plain if status == "warn" else "not https (nor allowed http)"))
    if not parts.path.endswith("/auth/callback") or parts.query:
        findings.append(("warn", "the kit's redirect URI is {APP_BASE_URL}/auth/callback"))
    return _verdict("redirect_uri", findings, f"{uri} is usable")


async def check_client_credentials(
    http: httpx.AsyncClient,
    settings: DoctorSettings,
    doc: Mapping[str, Any] | None,
    clock: Callable[[], float],
) -> Check:
    """A client-credentials grant where the kit would send it; never shows the token."""
    name = "client_credentials"
    if not settings.client_credentials or not settings.client_secret:
        return Check(name, "skip", "not asked for (--client-credentials, with a secret)")
    if doc is None:
        return Check(name, "skip", "no discovery document")
    try:
        config = _kit_config(settings)
        meta = _parse_metadata(dict(doc), config)
    except OIDCError as exc:  # the secret is not sent where the kit would not send it
        detail = f"not attempted, the kit refuses this provider: {exc.description}"
        return Check(name, "skip", detail)
    form = {"grant_type": "client_credentials"}
    if settings.scopes:
        form["scope"] = " ".join(settings.scopes)
    auth = client_authentication(config, meta).apply(form, clock())
    headers = {"Accept": "application/json"}
    try:
        response = await http.post(
            meta.token_endpoint, data=form, auth=auth or httpx.Auth(), headers=headers
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return Check(name, "fail", f"token endpoint: {describe_http_error(exc)}")
    return _grant_outcome(response, clock())


def _grant_outcome(response: httpx.Response, now: float) -> Check:
    try:
        body = json_object(response, ProviderError, "the token endpoint")
    except ProviderError as exc:
        body, unreadable = {}, exc.description
    else:
        unreadable = ""
    if response.status_code == 200:
        try:
            tokens = TokenSet.from_response(body, now)
        except ProviderError as exc:
            return Check("client_credentials", "fail", unreadable or exc.description)
        detail = f"token_type {tokens.token_type}, expires_in {body.get('expires_in')!r}, "
        detail += f"scope {body.get('scope')!r}"
        sent = (body.get(k) for k in ("access_token", "refresh_token", "id_token"))
        return Check("client_credentials", "ok", _scrub(detail, [s for s in sent if s]))
    error = body.get("error") if isinstance(body.get("error"), str) else None
    said = f"{error or 'no error code'}, HTTP {response.status_code}"
    if response.status_code == 401 or error == "invalid_client":
        detail = f"the provider refused the client's credentials ({said})"
        return Check("client_credentials", "fail", detail)
    text = body.get("error_description")
    about = f": {text}" if isinstance(text, str) else ""
    return Check("client_credentials", "fail", f"the provider refused the grant ({said}){about}")


def _kit_config(settings: DoctorSettings) -> OIDCConfig:
    """The kit's configuration for this client: its rules decide where the secret may go."""
    return OIDCConfig(
        issuer=settings.issuer,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        allow_insecure_http=settings.allow_insecure_http,
        revocation_endpoint=settings.revocation_endpoint,
        introspection_endpoint=settings.introspection_endpoint,
        # Required fields the doctor never uses: it makes no login and keeps no session.
        base_url="https://doctor.invalid",
        session_secrets=(secrets.token_urlsafe(32),),
        session_store="memory://",
    )


def _split(url: Any) -> SplitResult | None:
    """``urlsplit(url)``, or None for a non-string or a malformed URL."""
    try:
        return urlsplit(url) if isinstance(url, str) else None
    except ValueError:  # an unbalanced IPv6 bracket, for one
        return None


def _strings(doc: Mapping[str, Any], name: str) -> list[str] | None:
    """A metadata list's strings; ``None`` when absent, ``[]`` when not a list."""
    value = doc.get(name)
    if value is None:
        return None
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _verdict(name: str, findings: Sequence[tuple[Status, str]], ok_detail: str) -> Check:
    """The worst finding's status, every finding in the detail (fails first); else ok."""
    if not findings:
        return Check(name, "ok", ok_detail)
    ordered = sorted(findings, key=lambda f: -_RANK.index(f[0]))
    return Check(name, ordered[0][0], "; ".join(text for _, text in ordered))


def _secret_forms(settings: DoctorSettings) -> list[str]:
    """The secret as it may travel: raw, form-encoded, inside HTTP Basic credentials."""
    secret = settings.client_secret
    if not secret:
        return []
    basic = f"{quote_plus(settings.client_id)}:{quote_plus(secret)}"
    return [secret, quote_plus(secret), base64.b64encode(basic.encode()).decode()]


def _scrub(text: str, hidden: Sequence[Any]) -> str:
    for value in sorted((v for v in hidden if isinstance(v, str) and v), key=len, reverse=True):
        text = text.replace(value, "[redacted]")
    return text


def _clean(check: Check, hidden: Sequence[str]) -> Check:
    """The check with a printable one-line detail and nothing of ``hidden`` in it."""
    text = _scrub(check.detail, hidden)
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 1] + "…"
    return Check(check.name, check.status, text)
