"""Run the documentation's code: every ```python block in docs/ and the README is executed.

A page's blocks run in order in one namespace, like a reader pasting them into one file. A
page whose blocks build an ``app`` can also be served for real with :func:`serve_docs_app`:
the sandbox provider in one process, the page's app under uvicorn in another, configured only
through the environment variables the docs tell people to set.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers import ROOT, Server, free_port, serve

FENCE = re.compile(r"^(?P<indent>[ \t]*)```python[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.S | re.M)

CLIENT_ID = "docs-app"
CLIENT_SECRET = "docs-app-secret-0123456789"
SESSION_SECRET = "docs-session-secret-0123456789abcdef"


def doc_pages() -> list[Path]:
    """Every Markdown page of the docs site, and the README."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def python_blocks(page: Path) -> list[str]:
    """The ```python blocks of ``page``, dedented (blocks inside admonitions are indented)."""
    text = page.read_text(encoding="utf-8")
    return [textwrap.dedent(m.group("body")) for m in FENCE.finditer(text)]


def page_source(page: Path) -> str:
    """The page's blocks joined into one module, in order."""
    return "\n\n".join(python_blocks(page))


def run_page(page: Path, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute the page's blocks in order in one namespace and return it."""
    ns: dict[str, Any] = {"__name__": f"docs_{page.stem}"} if namespace is None else namespace
    for number, block in enumerate(python_blocks(page), 1):
        code = compile(block, f"{page.relative_to(ROOT)}[block {number}]", "exec")
        exec(code, ns)  # noqa: S102 - our own documentation, on purpose
    return ns


@dataclass
class DocsStack:
    """A docs app served for real, and the sandbox provider it logs in with."""

    app: Server
    provider: Server


@contextmanager
def serve_docs_app(
    source: str, folder: Path, env: Mapping[str, str] | None = None, app_name: str = "app"
) -> Iterator[DocsStack]:
    """Serve ``source`` (a module defining ``app``) with uvicorn against the sandbox provider.

    The app gets only what the docs say to set: ``OIDC_ISSUER``, ``OIDC_CLIENT_ID``,
    ``OIDC_CLIENT_SECRET``, ``APP_BASE_URL``, ``SESSION_SECRET`` (and, the provider being
    plain http on loopback, ``OIDC_ALLOW_INSECURE_HTTP``).
    """
    op_port, app_port = free_port(), free_port()
    base = f"http://127.0.0.1:{app_port}"
    client = f"{CLIENT_ID}:{CLIENT_SECRET}:{base}/auth/callback:{base}/"
    (folder / "docs_app.py").write_text(source, encoding="utf-8")
    app_env = {
        "OIDC_ISSUER": f"http://127.0.0.1:{op_port}",
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_ALLOW_INSECURE_HTTP": "1",
        "APP_BASE_URL": base,
        "SESSION_SECRET": SESSION_SECRET,
        "SESSION_STORE": f"sqlite:///{folder}/sessions.db",
        "PYTHONPATH": f"{folder}:{ROOT}",
        **(env or {}),
    }
    op_args = ["-m", "oidc_kit.testing", "--port", str(op_port), "--client", client]
    app_args = ["-m", "uvicorn", f"docs_app:{app_name}", "--port", str(app_port)]
    app_args += ["--host", "127.0.0.1", "--log-level", "warning"]
    with ExitStack() as stack:
        discovery = "/.well-known/openid-configuration"
        provider = stack.enter_context(
            serve(op_args, op_port, {}, folder / "provider.log", discovery)
        )
        app = stack.enter_context(serve(app_args, app_port, app_env, folder / "app.log"))
        yield DocsStack(app=app, provider=provider)
