"""The docs site works with no network: its scripts come with it, not from a CDN.

Used by mkdocs as a hook (``hooks:`` in mkdocs.yml). mkdocs-material loads two scripts from
unpkg.com unless the site carries its own:

- mermaid, which draws the ```mermaid diagrams in the browser: the theme fetches it unless the
  page already loaded a ``mermaid`` script, so mkdocs.yml lists ``SCRIPTS``' mermaid in
  ``extra_javascript``;
- iframe-worker, which the ``offline`` plugin adds so that the search runs from ``file://``
  (where browsers refuse web workers): the plugin adds the unpkg one unless a polyfill named
  ``iframe-worker`` is listed, so mkdocs.yml lists ours in ``extra.polyfills``.

This hook adds both files to the site, copied from the npm packages pinned by
tools/package.json and tools/package-lock.json (``make docs`` installs them). Without them the
build fails: a site that silently falls back to a CDN is the thing this hook exists to stop.
(The fonts are the theme's other CDN: ``theme.font: false`` in mkdocs.yml.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

TOOLS = Path(__file__).resolve().parent
NODE_MODULES = TOOLS / "node_modules"
MERMAID = "assets/javascripts/mermaid.min.js"
IFRAME_WORKER = "assets/javascripts/iframe-worker-shim.js"
#: Where the site serves each script, and the file npm installed.
SCRIPTS = {
    MERMAID: NODE_MODULES / "mermaid" / "dist" / "mermaid.min.js",
    IFRAME_WORKER: NODE_MODULES / "iframe-worker" / "shim" / "index.js",
}


def on_config(config: MkDocsConfig, **_: Any) -> MkDocsConfig:
    """Refuse a configuration that would load the scripts from elsewhere, or miss them."""
    if MERMAID not in [str(script) for script in config.extra_javascript]:
        raise PluginError(f"mkdocs.yml: extra_javascript must list {MERMAID}")
    if IFRAME_WORKER not in [str(script) for script in config.extra.get("polyfills", [])]:
        raise PluginError(f"mkdocs.yml: extra.polyfills must list {IFRAME_WORKER}")
    for source in SCRIPTS.values():
        if not source.is_file():
            raise PluginError(
                f"{source.relative_to(TOOLS.parent)} is missing: run `make docs` (it runs "
                "`npm ci` in tools/, which needs Node and npm) so that the site works offline"
            )
    return config


def on_files(files: Files, config: MkDocsConfig, **_: Any) -> Files:
    """Add the installed scripts to the site, at the paths mkdocs.yml names."""
    for site_path, source in SCRIPTS.items():
        files.append(File.generated(config, site_path, abs_src_path=str(source)))
    return files
