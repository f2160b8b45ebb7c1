"""No markup is ever formatted from variables under tapit/tui: data becomes Content (safe_text).

An f-string, `%` or `.format` that builds a string handed to an API which reads markup
(Static, Label, Button, update, from_markup, notify with markup=True, Hit, ...) lets a task's
text be read as markup; so does any string with markup tags and `{}` fields, wherever it goes.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import tapit.tui

TUI = Path(tapit.tui.__file__).parent
# Calls whose text arguments Textual or Rich parse as markup.
MARKUP_CALLS = {"Static", "Label", "Button", "update", "from_markup", "Hit", "DiscoveryHit", "TabPane", "Tab", "panic"}
# tapit's App.notify is plain text; it (or a widget's notify) reads markup only when asked to.
MAYBE_MARKUP_CALLS = {"notify"}
# Keyword arguments that carry text (id=, classes= and the like do not).
TEXT_KEYWORDS = {"content", "renderable", "label", "message", "title", "help", "text"}
TAG = re.compile(r"\[/?[a-zA-Z$@#]|\[/\]")


def formatted(node: ast.AST) -> bool:
    """A str built from values at run time."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return bool(literal_text(node.left)) or isinstance(node.left, ast.JoinedStr)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        sides = (node.left, node.right)
        has_text = any(isinstance(s, ast.Constant) and isinstance(s.value, str) or formatted(s) for s in sides)
        return has_text and not all(isinstance(s, ast.Constant) for s in sides)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return isinstance(node.func.value, (ast.Constant, ast.JoinedStr))
    return False


def literal_text(node: ast.AST) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(literal_text(part) for part in node.values)
    return ""


def call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def reads_markup(call: ast.Call) -> bool:
    name = call_name(call)
    if name in MAYBE_MARKUP_CALLS:
        return any(
            k.arg == "markup" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
            for k in call.keywords
        )
    return name in MARKUP_CALLS


def offences(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and reads_markup(node):
            texts = [*node.args, *(k.value for k in node.keywords if k.arg in TEXT_KEYWORDS)]
            found += [
                f"line {node.lineno}: markup formatted for {call_name(node)}()" for arg in texts if formatted(arg)
            ]
        template = None
        if isinstance(node, ast.JoinedStr) and formatted(node):
            template = node
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            template = node.left
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
            template = node.func.value
        if template is not None and TAG.search(literal_text(template)):
            found.append(f"line {node.lineno}: markup tags with formatted fields")
    return found


@pytest.mark.parametrize("path", sorted(TUI.rglob("*.py")), ids=lambda p: p.name)
def test_no_markup_is_formatted_from_variables(path):
    assert offences(path.read_text()) == []


@pytest.mark.parametrize(
    "bad",
    [
        'Static(f"[b]{name}[/b]")',
        'widget.update(f"{record.command} ran")',
        'widget.update("status: " + status)',
        'Label("%s failed" % reason)',
        'Content.from_markup(f"$x {y}")',
        'Content.from_markup("[b]{}[/b]".format(y))',
        'self.notify(f"saved {path}", markup=True)',
        'text = f"[$accent]filter: {needle}[/]"',
        'STYLES = "[b]{}[/b]".format(value)',
        'line = "[red]%s[/]" % value',
        'yield Hit(1, f"{title}", run)',
    ],
)
def test_the_check_finds_markup_built_from_data(bad):
    assert offences(bad)


@pytest.mark.parametrize(
    "good",
    [
        'Static(plain(name, "bold"))',
        'Content.from_markup("[b]$name[/b]", name=name)',
        'self.notify(f"saved {path}")',
        'box.update(Content.assemble(("a", "bold"), value))',
        'terminal.feed(f"\\r\\n\\x1b[7m {ending} \\x1b[0m".encode())',
        'label = f"{count} tasks"',
    ],
)
def test_the_check_lets_content_built_from_data_pass(good):
    assert offences(good) == []
