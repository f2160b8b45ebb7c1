"""The new-task form: a command and every task parameter, checked by the CLI's own parser.

Each field is checked on its own as it is typed, so an error sits next to the
field that caused it; on submit the whole set is checked once more, since
some rules (image with docker_tag) span two fields.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static

from tapit.config import AppConfig
from tapit.errors import UsageError
from tapit.params import CONSOLE_KEYS, TASK_KEYS, TaskSpec, build_spec, parse_assignments
from tapit.output import printable
from tapit.tui.safe_text import DataInput, plain

HINTS = {
    "memory": "GB",
    "cpu": "vCPUs",
    "docker_tag": "tag of the app image",
    "image": "image reference, replaces the app image",
    "max_hours": "hours before it is killed",
    "initiated_by": "who asked for it",
    "ephemeral_storage_gb": "GB of scratch disk",
}
COMMAND_HINT = "the shell command to run"
# Both fields of a rule that spans two, so each shows the error.
PAIRED = {"image": "docker_tag", "docker_tag": "image"}
FORM_KEYS = Content.styled("  enter starts it · esc cancels · empty fields take the default shown", "$text-muted")


def defaults(config: AppConfig, initiator: str, console: bool = False) -> dict[str, str]:
    """What each field means when left empty, shown as its placeholder."""
    # A console without max_hours still ends at console_max_hours.
    max_hours = config.max_hours if config.max_hours is not None or not console else config.console_max_hours
    return {
        "memory": f"{config.memory_gb:g}",
        "cpu": f"{config.cpu:g}",
        "docker_tag": config.docker_tag if config.image_repository else "(none: host process)",
        "image": config.image_repository or "(none)",
        "max_hours": "no limit" if max_hours is None else f"{max_hours:g}",
        "initiated_by": initiator,
        "ephemeral_storage_gb": f"{config.ephemeral_storage_gb:g}",
    }


def check(
    command: str, values: dict[str, str], config: AppConfig, initiator: str, keys: tuple[str, ...] = TASK_KEYS
) -> tuple[TaskSpec | None, dict[str, str]]:
    """The spec, or an error message per field ("command" for the command)."""
    errors: dict[str, str] = {}
    given = {k: v.strip() for k, v in values.items() if v.strip()}
    if not command.strip():
        errors["command"] = "the command is empty"
    for key, value in given.items():
        try:
            parse_assignments([f"{key}={value}"], keys)
            build_spec("true", {key: value}, config, initiator)
        except UsageError as exc:
            errors[key] = str(exc)
    if errors:
        return None, errors
    try:
        return build_spec(command, given, config, initiator), {}
    except UsageError as exc:
        message = str(exc)
        blamed = [k for k in given if k in PAIRED and PAIRED[k] in given] or ["command"]
        return None, dict.fromkeys(blamed, message)


class NewTaskScreen(ModalScreen[TaskSpec | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Start", priority=True),
        # Priority, so the focus moves as the key arrives: what is typed right after it goes to the next field.
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True),
    ]

    AUTO_FOCUS = "#field-command"  # as the screen opens: keys typed right after `n` go to the command

    def __init__(
        self,
        config: AppConfig,
        initiator: str,
        prefill: TaskSpec | None = None,
        console: bool = False,
        title: str | None = None,
    ) -> None:
        """`console`: the form for a console, whose initiator is always the person at the keyboard."""
        super().__init__()
        self.config, self.initiator, self.prefill = config, initiator, prefill
        self.keys = CONSOLE_KEYS if console else TASK_KEYS
        self.title_text = title or ("New console" if console else "New task")
        self.command = "sh" if console else ""

    def compose(self) -> ComposeResult:
        placeholders = defaults(self.config, self.initiator, console=self.keys == CONSOLE_KEYS)
        with Vertical(id="form"):
            yield Static(plain(self.title_text, "bold") + FORM_KEYS, id="form-title")
            with VerticalScroll(id="form-fields"):
                yield from self._field("command", "e.g. rake db:migrate", COMMAND_HINT)
                for key in self.keys:
                    yield from self._field(key, placeholders[key], HINTS[key])
            with Horizontal(id="form-buttons"):
                yield Button("Start", variant="primary", id="start")
                yield Button("Cancel", id="cancel")
        yield Footer()  # the form's keys, not the list's behind it

    def _field(self, key: str, placeholder: str, hint: str) -> ComposeResult:
        with Horizontal(classes="field"):
            yield Label(key, classes="field-label")
            with Vertical(classes="field-body"):
                yield DataInput(value=self._prefilled(key), placeholder=printable(placeholder), id=f"field-{key}")
                yield Label(hint, id=f"hint-{key}", classes="field-hint")

    def _prefilled(self, key: str) -> str:
        spec = self.prefill
        if spec is None:
            return self.command if key == "command" else ""
        value = {
            "command": spec.command,
            "memory": spec.memory_gb,
            "cpu": spec.cpu,
            "docker_tag": spec.docker_tag,
            "image": spec.image,
            "max_hours": spec.max_hours,
            "initiated_by": None,
            "ephemeral_storage_gb": spec.ephemeral_storage_gb,
        }[key]
        return "" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))

    def _values(self) -> tuple[str, dict[str, str]]:
        command = self.query_one("#field-command", Input).value
        return command, {key: self.query_one(f"#field-{key}", Input).value for key in self.keys}

    def _show(self, errors: dict[str, str], keys: tuple[str, ...]) -> None:
        for key in keys:
            hint = self.query_one(f"#hint-{key}", Label)
            field = self.query_one(f"#field-{key}", Input)
            error = errors.get(key)
            hint.update(plain(error or HINTS.get(key) or COMMAND_HINT))
            hint.set_class(bool(error), "error")
            field.set_class(bool(error), "invalid")

    @on(Input.Changed)
    def _recheck(self, event: Input.Changed) -> None:
        key = (event.input.id or "").removeprefix("field-")
        command, values = self._values()
        _, errors = check(command or "-", values, self.config, self.initiator, self.keys)
        # As the user types only the field being edited (and its partner) is judged.
        self._show(errors, tuple(k for k in (key, PAIRED.get(key)) if k))

    @on(Input.Submitted)
    @on(Button.Pressed, "#start")
    def action_submit(self) -> None:
        command, values = self._values()
        spec, errors = check(command, values, self.config, self.initiator, self.keys)
        self._show(errors, ("command", *self.keys))
        if spec is not None:
            self.dismiss(spec)
        else:
            first = next(k for k in ("command", *self.keys) if k in errors)
            self.query_one(f"#field-{first}", Input).focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
