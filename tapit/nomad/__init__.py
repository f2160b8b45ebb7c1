"""Talking to Nomad: job translation, status reading, and the HTTP client."""

import sys

# httpx imports its own command-line client (click, rich, pygments: about 40 ms, a fifth of a
# short `create --wait`) whenever those are installed, as Textual's rich is; tapit never runs
# it. None in sys.modules makes that one import fail, and httpx then defines a stub `main`
# instead (httpx/__init__.py: `try: from ._main import main except ImportError`).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
