"""``oidc-kit``: the kit's command line.

    oidc-kit doctor --issuer https://login.example.com --client-id my-app
    oidc-kit new my-bank --name "My Bank"
    oidc-kit sessions list --sub 248289761001 --store redis://redis:6379/0
    oidc-kit sessions revoke --sub 248289761001 --store redis://redis:6379/0

``doctor`` checks that a provider, and a client registered there, are fit for the kit:
discovery, TLS, signing keys, algorithms, PKCE, response modes (JARM), logout endpoints,
client authentication, signed request objects (JAR), mutual TLS, clock skew, the redirect URI
and, on request, a client-credentials grant. It prints one line per check (or ``--json``)
and exits 0 when no check failed, 1 when one did, 2 on a usage error. The client secret is
read from ``--client-secret`` or, better (it then stays out of the process list and the shell
history), ``OIDC_CLIENT_SECRET``; likewise the private keys (``OIDC_CLIENT_KEY``,
``OIDC_CLIENT_CERT_KEY``). None is ever printed, nor is any token.

``new`` writes a starter project: the example app under the app's own name, with its own
``pyproject.toml``, README, ``.env.example`` and tests (``oidc_kit._starter``). It exits 0, or
2 when the folder is not empty or the name cannot be used.

``sessions list`` prints a user's live sessions (by handle, never an id or a token);
``sessions revoke`` ends them all, on every instance sharing the store, and revokes their
tokens at the provider when the app's environment (``OIDC_*``, ``SESSION_SECRET``) allows
(``oidc_kit._session_admin``). They exit 0, 1 when the store cannot be reached, 2 on a usage
error.

Each subcommand is a ``_add_*`` function registering its parser and a ``run`` callable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import ssl
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar
from urllib.parse import urlsplit

import httpx

from . import __version__, _starter
from ._doctor import DoctorSettings, Report, client_tls_context, diagnose
from ._env import ENV_NAMES
from ._env import parse as _parse
from ._errors import ConfigurationError, StoreUnavailable
from ._session_admin import AdminSettings, list_sessions, revoke_sessions, sessions_text

__all__ = ["build_parser", "format_report", "main"]

Run = Callable[[argparse.Namespace, httpx.AsyncBaseTransport | None, TextIO], int]

T = TypeVar("T")

_STATUS_LABELS = {"ok": "OK", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}


def main(
    argv: Sequence[str] | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> int:
    """Run ``oidc-kit`` with ``argv`` (default: ``sys.argv[1:]``); the exit status.

    ``transport`` replaces the network (tests pass one that reaches an in-process provider).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        run: Run | None = getattr(args, "run", None)
        if run is None:
            parser.error("a command is required")
        check_usage: Callable[[argparse.Namespace], None] = args.check_usage
        check_usage(args)
    except SystemExit as exc:  # argparse exits for --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2
    return run(args, transport, sys.stdout)


def build_parser() -> argparse.ArgumentParser:
    """The ``oidc-kit`` parser, one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="oidc-kit", description="Tools for apps using oidc_kit (OpenID Connect login)."
    )
    parser.add_argument("--version", action="version", version=f"oidc-kit {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_doctor(commands)
    _add_new(commands)
    _add_sessions(commands)
    return parser


def _add_doctor(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check that a provider and a client are fit for the kit",
        description=(
            "Check a provider and a client for the kit: discovery, TLS, keys, algorithms, "
            "PKCE, response types and modes (JARM), RFC 9207, logout endpoints, client "
            "authentication, FAPI 2.0, signed request objects (JAR), mutual TLS, clock "
            "skew, the redirect URI and, with --client-credentials, "
            "a client-credentials grant. Exit status: 0 no check failed, 1 a check failed, "
            "2 usage error."
        ),
    )
    # The provider's settings only, each defaulting to the app's variable: the doctor runs
    # in the app's (or a batch job's) environment, and needs no APP_BASE_URL or SESSION_*.
    doctor.add_argument(
        "--issuer",
        type=_issuer,
        default=_env("OIDC_ISSUER"),
        help="the issuer URL (default: $OIDC_ISSUER)",
    )
    doctor.add_argument(
        "--client-id",
        default=_env("OIDC_CLIENT_ID"),
        help="the client id (default: $OIDC_CLIENT_ID)",
    )
    doctor.add_argument(
        "--client-secret",
        default=os.environ.get("OIDC_CLIENT_SECRET") or None,
        help="the client secret (default: $OIDC_CLIENT_SECRET, the safer way to pass it)",
    )
    doctor.add_argument("--redirect-uri", help="the redirect URI to check")
    doctor.add_argument(
        "--client-credentials",
        action="store_true",
        help="perform a client-credentials grant (needs the secret)",
    )
    doctor.add_argument(
        "--scope",
        action="append",
        default=[],
        help="a scope for the grant (repeat it, or separate scopes with spaces)",
    )
    _add_app_settings(doctor)
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.add_argument(
        "--timeout",
        type=_seconds,
        default=_env("OIDC_HTTP_TIMEOUT") or 10.0,
        help="seconds per HTTP request (default: $OIDC_HTTP_TIMEOUT, else 10)",
    )
    doctor.set_defaults(run=_run_doctor, check_usage=lambda args: _check_doctor(doctor, args))


def _add_new(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    new = commands.add_parser(
        "new",
        help="write a starter project: the example app under your app's name",
        description=(
            "Write a runnable starter project into PATH: the example app as a package named "
            'after the app (--name "My Bank" makes my_bank), with its own pyproject.toml '
            "(depending on oidc_kit[demo]), README, .env.example, .gitignore, Makefile and "
            "tests that log in through the embedded sandbox. PATH must not exist or be empty. Exit "
            "status: 0 written, 2 usage error."
        ),
    )
    new.add_argument("path", type=Path, metavar="PATH", help="the project's folder")
    new.add_argument(
        "--name",
        help='the app\'s name, on its pages and in --help (e.g. "My Bank"; default: from PATH, '
        "my-bank making My Bank); its package is the name in lower case, with underscores",
    )
    new.set_defaults(run=_run_new, check_usage=lambda args: _check_new(new, args))


def _check_new(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    try:
        args.names = _starter.names_for(args.name or _starter.default_name(args.path))
        _starter.check_target(args.path)
    except _starter.StarterError as exc:
        parser.error(str(exc))


def _run_new(args: argparse.Namespace, _: httpx.AsyncBaseTransport | None, out: TextIO) -> int:
    names: _starter.ProjectNames = args.names
    try:
        _starter.write(args.path, names)
    except (_starter.StarterError, OSError) as exc:  # e.g. the folder filled up meanwhile
        print(f"oidc-kit new: error: {exc}", file=sys.stderr)
        return 2
    folder = shlex.quote(str(args.path))
    print(
        f"Wrote {names.name} into {args.path} (package {names.module}). Next, in a virtual "
        'environment with oidc_kit (see the project\'s README.md, "Install"):\n\n'
        f"  cd {folder}\n"
        "  pip install -e '.[test]'\n"
        f"  python -m {names.module}        # http://127.0.0.1:8000, log in as alice/alice\n"
        "  python -m pytest -q",
        file=out,
    )
    return 0


def _add_sessions(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sessions = commands.add_parser(
        "sessions",
        help="list or end a user's sessions in the app's store",
        description="List a user's live sessions, or end them all (on every instance sharing "
        "the store). Run it in the app's environment: with OIDC_CLIENT_ID (and the client's "
        "credentials) and SESSION_SECRET set, revoke also revokes the sessions' tokens at the "
        "provider. Exit status: 0 done, 1 store unreachable, 2 usage error.",
    )
    actions = sessions.add_subparsers(title="actions", metavar="ACTION")
    for action, run, text in (
        ("list", _run_sessions_list, "print the user's live sessions, newest first"),
        ("revoke", _run_sessions_revoke, "end all of the user's sessions"),
    ):
        parser = actions.add_parser(action, help=text, description=text)
        parser.add_argument("--sub", required=True, help="the user's subject (sub claim)")
        parser.add_argument(
            "--store",
            default=_env("SESSION_STORE"),
            help="the app's session store URL, sqlite:///PATH or redis://... "
            "(default: $SESSION_STORE)",
        )
        parser.add_argument(
            "--issuer",
            default=_env("OIDC_ISSUER"),
            help="the provider's issuer, exactly as in the ID tokens (default: $OIDC_ISSUER)",
        )
        if action == "list":
            parser.add_argument("--json", action="store_true", help="print the list as JSON")
        parser.set_defaults(run=run, check_usage=lambda a, p=parser: _check_sessions(p, a))


def _check_sessions(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for option, variable in (("store", "SESSION_STORE"), ("issuer", "OIDC_ISSUER")):
        if not getattr(args, option):
            parser.error(f"--{option} or {variable} is required")
    args.settings = AdminSettings(args.store, args.issuer, args.sub, dict(os.environ))


def _run_sessions_list(args: argparse.Namespace, _: object, out: TextIO) -> int:
    settings: AdminSettings = args.settings
    listed = _admin(list_sessions(settings))
    if isinstance(listed, int):
        return listed
    if args.json:
        print(json.dumps({"sessions": [i.as_dict() for i in listed]}, indent=2), file=out)
    else:
        print(sessions_text(settings, listed), file=out)
    return 0


def _run_sessions_revoke(
    args: argparse.Namespace, transport: httpx.AsyncBaseTransport | None, out: TextIO
) -> int:
    settings: AdminSettings = args.settings
    revoked = _admin(revoke_sessions(settings, transport))
    if isinstance(revoked, int):
        return revoked
    print(revoked.text(settings.sub), file=out)
    return 0


def _admin(work: Coroutine[Any, Any, T]) -> T | int:
    """What ``work`` returns, else the exit status once the reason is printed: 1 when the
    store cannot be reached, 2 when the settings are wrong."""
    try:
        return asyncio.run(work)
    except (StoreUnavailable, ConfigurationError) as exc:
        print(f"oidc-kit sessions: error: {exc.description}", file=sys.stderr)
        return 1 if isinstance(exc, StoreUnavailable) else 2


def _add_app_settings(doctor: argparse.ArgumentParser) -> None:
    """The app's settings the doctor judges by, each defaulting to the app's variable."""
    doctor.add_argument(
        "--allow-insecure-http",
        action="store_true",
        default=_parse("allow_insecure_http", _env("OIDC_ALLOW_INSECURE_HTTP") or "0"),
        help="accept plain http on loopback hosts (local development; "
        "default: OIDC_ALLOW_INSECURE_HTTP=1)",
    )
    doctor.add_argument(
        "--fapi2",
        action="store_true",
        default=os.environ.get("OIDC_PROFILE", "").strip() == "fapi2",
        help="check what the FAPI 2.0 profile needs (default: OIDC_PROFILE=fapi2)",
    )
    doctor.add_argument(
        "--id-token-algs",
        type=_alg_list,
        default=os.environ.get("OIDC_ID_TOKEN_ALGS", "").strip() or None,
        help="the ID-token algorithms the app allows, comma- or space-separated "
        "(default: $OIDC_ID_TOKEN_ALGS, else the kit's)",
    )
    doctor.add_argument(
        "--id-token-alg",
        default=os.environ.get("OIDC_ID_TOKEN_ALG", "").strip() or None,
        help="the client's registered id_token_signed_response_alg, the only one the kit then "
        "accepts (default: $OIDC_ID_TOKEN_ALG)",
    )
    for name in ("revocation", "introspection"):
        doctor.add_argument(
            f"--{name}-endpoint",
            default=os.environ.get(f"OIDC_{name.upper()}_ENDPOINT", "").strip() or None,
            help=f"the {name} endpoint the app configures instead of the provider's "
            f"(default: $OIDC_{name.upper()}_ENDPOINT)",
        )
    _add_client_settings(doctor)


def _add_client_settings(doctor: argparse.ArgumentParser) -> None:
    """How the client authenticates and sends its logins, each defaulting to the app's
    variable. Keys are read as the app reads them (a PEM or JWK, or a file's path), and never
    printed: the variables keep them out of the process list and the shell history."""
    doctor.add_argument(
        "--token-auth-method",
        default=_env("OIDC_TOKEN_AUTH_METHOD"),
        help="the client authentication method the app pins (default: "
        "$OIDC_TOKEN_AUTH_METHOD, else the kit's choice)",
    )
    doctor.add_argument(
        "--client-key",
        default=_env("OIDC_CLIENT_KEY"),
        help="the client's private key for private_key_jwt and request objects, a PEM or "
        "JWK or its file's path (default: $OIDC_CLIENT_KEY, the safer way to pass it)",
    )
    doctor.add_argument(
        "--client-cert",
        default=_env("OIDC_CLIENT_CERT"),
        help="the client's certificate for mutual TLS, PEM or its file's path "
        "(default: $OIDC_CLIENT_CERT)",
    )
    doctor.add_argument(
        "--client-cert-key",
        default=_env("OIDC_CLIENT_CERT_KEY"),
        help="the certificate's private key, PEM or its file's path (default: "
        "$OIDC_CLIENT_CERT_KEY, the safer way to pass it)",
    )
    for option, name, text in (
        ("--mtls-bound-tokens", "mtls_bound_tokens", "certificate-bound access tokens"),
        ("--signed-requests", "signed_requests", "signed request objects (JAR)"),
        ("--par", "par", "pushed authorization requests"),
    ):
        variable = ENV_NAMES[name]
        doctor.add_argument(
            option,
            action="store_true",
            default=_parse(name, _env(variable) or "0"),
            help=f"the app asks for {text} (default: {variable}=1)",
        )
    doctor.add_argument(
        "--response-mode",
        default=_env("OIDC_RESPONSE_MODE"),
        help="the response_mode the app sends: query, form_post, or JARM's query.jwt, "
        "form_post.jwt or jwt (default: $OIDC_RESPONSE_MODE, else none: query)",
    )


def _check_doctor(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for option, variable in (("issuer", "OIDC_ISSUER"), ("client_id", "OIDC_CLIENT_ID")):
        if not getattr(args, option):
            parser.error(f"--{option.replace('_', '-')} or {variable} is required")
    if args.client_credentials and not args.client_secret:
        parser.error("--client-credentials needs --client-secret or OIDC_CLIENT_SECRET")
    if args.scope and not args.client_credentials:
        parser.error("--scope is for --client-credentials")


def _env(name: str) -> str | None:
    """The variable's value, ``None`` when unset or blank (as ``OIDCConfig.from_env`` reads)."""
    return os.environ.get(name, "").strip() or None


def _issuer(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"not an absolute http(s) URL: {value!r}")
    if parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"an issuer has no query or fragment: {value!r}")
    return value


def _alg_list(value: str) -> tuple[str, ...]:
    """``--id-token-algs``, read as ``OIDCConfig.from_env`` reads ``OIDC_ID_TOKEN_ALGS``."""
    algs = _parse("id_token_algs", value)
    if not isinstance(algs, tuple) or not algs:
        raise argparse.ArgumentTypeError(f"no algorithm in {value!r}")
    return tuple(str(alg) for alg in algs)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0 < seconds <= 600:
        raise argparse.ArgumentTypeError("the timeout must be between 0 and 600 seconds")
    return seconds


def _run_doctor(
    args: argparse.Namespace, transport: httpx.AsyncBaseTransport | None, out: TextIO
) -> int:
    settings = DoctorSettings(
        issuer=args.issuer,
        client_id=args.client_id,
        client_secret=args.client_secret,
        redirect_uri=args.redirect_uri,
        client_credentials=args.client_credentials,
        scopes=tuple(dict.fromkeys(s for value in args.scope for s in value.split())),
        allow_insecure_http=args.allow_insecure_http,
        fapi2=args.fapi2,
        id_token_algs=args.id_token_algs,
        id_token_alg=args.id_token_alg,
        revocation_endpoint=args.revocation_endpoint,
        introspection_endpoint=args.introspection_endpoint,
        timeout=args.timeout,
        token_endpoint_auth_method=args.token_auth_method,
        client_key=args.client_key,
        client_cert=args.client_cert,
        client_cert_key=args.client_cert_key,
        mtls_bound_tokens=args.mtls_bound_tokens,
        signed_requests=args.signed_requests,
        par=args.par,
        response_mode=args.response_mode,
    )
    report = asyncio.run(_diagnose(settings, transport))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2), file=out)
    else:
        print(format_report(report, settings.client_id), file=out)
    return 0 if report.ok else 1


async def _diagnose(settings: DoctorSettings, transport: httpx.AsyncBaseTransport | None) -> Report:
    headers = {"User-Agent": f"oidc-kit/{__version__} doctor"}
    timeout = settings.timeout
    # With a client certificate the doctor presents it, as the kit does to the provider.
    verify: ssl.SSLContext | bool = client_tls_context(settings) or True
    async with httpx.AsyncClient(
        transport=transport, timeout=timeout, headers=headers, verify=verify
    ) as http:
        return await diagnose(settings, http)


def format_report(report: Report, client_id: str) -> str:
    """The report as text: a heading, one line per check, a summary line."""
    width = max(len(check.name) for check in report.checks)
    lines = [f"oidc-kit doctor: issuer {report.issuer}, client {client_id}", ""]
    for check in report.checks:
        label = _STATUS_LABELS[check.status]
        lines.append(f"  {label:<4}  {check.name:<{width}}  {check.detail}")
    counts = {status: 0 for status in _STATUS_LABELS}
    for check in report.checks:
        counts[check.status] += 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    verdict = "No check failed" if report.ok else "Some checks FAILED"
    lines += ["", f"{len(report.checks)} checks: {summary}. {verdict}."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
