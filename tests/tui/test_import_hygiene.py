"""Textual belongs to tapit/tui/ alone: the CLI and the core must never pay for it."""

import ast
import subprocess
import sys
from pathlib import Path

import tapit

PACKAGE = Path(tapit.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_module_outside_tui_imports_textual():
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if PACKAGE / "tui" not in path.parents
        and any(name == "textual" or name.startswith("textual.") for name in imported_modules(path))
    ]
    assert offenders == []


def test_importing_the_cli_does_not_import_textual():
    code = "import sys, tapit.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# What the commands people type most must not load: the TUI, SSH, the agent's HTTP server, the
# streaming stack (httpx is for blocking queries, streams and consoles).
HEAVY = ("textual", "asyncssh", "aiohttp", "httpx", "httpcore", "httpx_ws", "wsproto", "pyte")


def modules_loaded_by(argv: list[str]) -> list[str]:
    code = (
        "import sys; from tapit.cli import main; code = main(%r); "
        # None marks an import blocked, not done (tapit/nomad/__init__.py blocks httpx's CLI).
        "print(sorted({m.split('.')[0] for m, module in sys.modules.items() if module} & set(%r))); sys.exit(code)"
    ) % (argv, HEAVY)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_help_loads_nothing_heavy():
    assert modules_loaded_by(["--help"]) == "[]"


def test_list_tasks_loads_nothing_heavy(tapit_home):
    from tapit.agent import daemon

    daemon.ensure_running()  # running already, as it is after the first command of the day
    assert modules_loaded_by(["list", "tasks"]) == "[]"


def test_httpx_comes_without_its_command_line_client():
    """httpx loads its CLI (click, rich, pygments: about 40 ms) whenever they are installed;
    tapit's blocking queries, streams and consoles never need it."""
    code = (
        "import sys, tapit.nomad.exec, httpx; "
        "print(sorted({m.split('.')[0] for m, module in sys.modules.items() if module} & {'click', 'rich', 'pygments'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
