"""The authorization request: what a login asks the provider for, and how the browser carries it.

The parameters (the provider's extra ones, the login URL's hints, then the kit's own: PKCE
S256, ``state``, ``nonce``, step-up) go in the authorization URL's query, or, with PAR (RFC
9126), are pushed to the provider first, so that the URL carries only ``client_id`` and the
``request_uri`` standing for them. With DPoP the code is bound to the session's key: by
``dpop_jkt`` in the URL, or by the push's proof. With ``signed_requests`` (JAR) they travel
inside a request object the client signs (``_request_object``), pushed or by value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from ._config import OIDCConfig
from ._dpop import DPoPKey
from ._errors import PushedRequestFailed
from ._http import json_object
from ._provider import Provider, ProviderMetadata
from ._request_object import signed_request
from ._step_up import StepUp
from ._tokens import post_authenticated
from ._transaction import LoginTransaction

__all__ = ["Authorizer"]


class Authorizer:
    """Turns a login transaction into the URL that sends the browser to the provider."""

    def __init__(
        self,
        config: OIDCConfig,
        provider: Provider,
        http: httpx.AsyncClient,
        clock: Callable[[], float],
    ) -> None:
        self._config = config
        self._provider = provider
        self._http = http
        self._clock = clock

    async def url(
        self,
        meta: ProviderMetadata,
        txn: LoginTransaction,
        hints: Mapping[str, str],
        *,
        redirect_uri: str,
        dpop: DPoPKey | None,
    ) -> str:
        """The authorization URL for ``txn``: its parameters in the query, or pushed first
        (PAR) when the settings or the provider ask for it."""
        params = self.params(txn, hints, redirect_uri)
        resource = self._config.resource  # RFC 8707: one parameter per indicator
        pushed = self._config.uses_par or meta.require_par
        if dpop is not None and not pushed:
            params["dpop_jkt"] = dpop.thumbprint
        if self._config.signed_requests:
            # JAR: from here on the parameters travel inside the signed request object.
            params = signed_request(
                params, resource, self._config, meta, self._clock(), pushed=pushed
            )
            resource = ()
        if pushed:
            params, resource = await self._push(meta, params, dpop, resource), ()
        query = urlencode([*params.items(), *(("resource", uri) for uri in resource)])
        separator = "&" if "?" in meta.authorization_endpoint else "?"
        return meta.authorization_endpoint + separator + query

    def params(
        self, txn: LoginTransaction, hints: Mapping[str, str], redirect_uri: str
    ) -> dict[str, str]:
        """The authorization request's parameters for ``txn`` (but ``resource``)."""
        params = {
            # First the provider's extra parameters, then the login URL's hints: the kit's
            # own below always win (the settings refuse them anyway).
            **self._config.auth_params,
            **({"audience": self._config.audience} if self._config.audience else {}),
            **hints,
            "response_type": "code",
            "client_id": self._config.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self._config.scopes),
            "state": txn.state,
            "nonce": txn.nonce,
            "code_challenge": create_s256_code_challenge(txn.code_verifier),
            "code_challenge_method": "S256",
        }
        if self._config.response_mode:
            params["response_mode"] = self._config.response_mode
        # The step-up parameters, spelled as the step-up redirect to /auth/login spells them.
        prompt: Literal["login"] | None = "login" if txn.prompt == "login" else None
        step_up = StepUp(txn.max_age, txn.acr_values, prompt, txn.authorization_details)
        params.update(step_up.login_params())
        return params

    async def _push(
        self,
        meta: ProviderMetadata,
        params: dict[str, str],
        dpop: DPoPKey | None,
        resource: tuple[str, ...],
    ) -> dict[str, str]:
        """RFC 9126: POST the request's parameters, authenticated; the browser then carries
        only ``client_id`` and the ``request_uri`` standing for them. With DPoP, a proof of
        the session's key binds the code to it (RFC 9449 10.1)."""
        if meta.par_endpoint is None:
            raise PushedRequestFailed("the provider has no pushed_authorization_request_endpoint")
        response = await post_authenticated(
            self._http,
            self._config,
            meta,
            meta.par_endpoint,
            params,
            self._clock(),
            what="pushed authorization request",
            kind="par",
            dpop=dpop,
            nonces=self._provider.dpop_nonces,
            resource=resource,
        )
        body = json_object(response, PushedRequestFailed, "the PAR endpoint")
        if response.status_code not in (200, 201):
            error = body.get("error")
            raise PushedRequestFailed(
                f"the provider refused the pushed authorization request ({response.status_code}"
                + (f", {error})" if isinstance(error, str) else ")")
            )
        request_uri = body.get("request_uri")
        if not isinstance(request_uri, str) or not request_uri:
            raise PushedRequestFailed("the PAR response has no request_uri")
        return {"client_id": self._config.client_id, "request_uri": request_uri}
