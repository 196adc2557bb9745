"""The checks behind ``oidc-kit doctor``: is this provider, and this client, fit for the kit?

Each check is a small function returning a :class:`Check`: a name, a status (``ok``, ``warn``,
``fail``, ``skip``) and a one-line detail. :func:`diagnose` runs them all over an
``httpx.AsyncClient`` the caller passes (tests give it a transport) and returns a
:class:`Report`. No check raises: a network error is a ``fail`` of the check that needed the
network. The client secret and any token never enter a detail; as a last guard every detail
is scrubbed of the secret's forms and made printable, one line.

The doctor judges by the kit's own rules, never copies of them: the kit's configuration
(:class:`~oidc_kit.OIDCConfig`) decides which settings and algorithms it refuses, its
metadata parser which endpoints it uses and where from, its RFC 8414 reader what that
second source gives, its key rule which keys verify. The modules, by idea:

- :mod:`.report`: checks, the report, and the scrubbing of every detail;
- :mod:`.settings`: what the app configures, and the kit's configuration built from it;
- :mod:`.net`: fetching the provider's documents and reading their members;
- :mod:`.discovery`: the discovery document, TLS, the provider's features, its clock;
- :mod:`.endpoints`: the endpoints the kit would use, and where each comes from;
- :mod:`.keys`, :mod:`.algorithms`: the signing keys and the algorithms the kit accepts;
- :mod:`.client`: client authentication, the redirect URI, a client-credentials grant;
- :mod:`.requests`: signed request objects (JAR); :mod:`.mtls`: the client's certificate;
- :mod:`.runner`: :func:`diagnose`, every check in the report's order.
"""

from __future__ import annotations

from .mtls import client_tls_context
from .report import Check, Report, Status
from .runner import diagnose
from .settings import DoctorSettings

__all__ = ["Check", "DoctorSettings", "Report", "Status", "client_tls_context", "diagnose"]
