"""No module of tapit over 450 lines: one concept per file, split along its seams as it grows."""

from pathlib import Path

import tapit

MAX_LINES = 450
PACKAGE = Path(tapit.__file__).parent


def oversized() -> dict[str, int]:
    sizes = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            sizes[name] = lines
    return sizes


def test_no_module_over_the_limit():
    assert oversized() == {}, f"modules over {MAX_LINES} lines, split them: {oversized()}"
