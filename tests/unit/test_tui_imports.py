"""Starting the TUI does not pay for what only a console or Nomad needs: the websocket client
(httpx-ws, wsproto, httpx) loads when a console opens, the Nomad REST client (requests,
python-nomad) in the refresh thread, after the first paint. Importing them with the app cost
about 450 ms of a 1.1 s start on this project's 2-core VM."""

import subprocess
import sys

LOADED_LATER = ("httpx", "httpx_ws", "wsproto", "requests", "nomad", "urllib3")


def test_importing_the_tui_loads_neither_the_console_nor_the_nomad_client():
    # None marks an import blocked, not done (tapit/nomad/__init__.py blocks httpx's CLI).
    code = (
        "import sys, tapit.tui.app; "
        "print(sorted({m.split('.')[0] for m, module in sys.modules.items() if module} & set(%r)))"
    ) % (LOADED_LATER,)
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == "[]\n"
