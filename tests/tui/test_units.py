"""The TUI's pure parts: key translation, log buffering, list order and filters, form checks."""

from tapit.config import AppConfig
from tapit.tui.console_pane import key_bytes, rich_color
from tapit.model import exit_status
from tapit.output import exit_text, plural, task_json, task_table, why_it_ended
from tapit.tui.details import sparkline
from tapit.tui.log_buffer import LogBuffer, plain_text
from tapit.tui.new_task import check
from tapit.tui.task_table import cells, fit, visible_ids

from .conftest import FIXED_NOW, SAMPLE, record


def test_keys_become_what_an_xterm_sends():
    assert key_bytes("a", "a") == b"a"
    assert key_bytes("enter", "\r") == b"\r"
    assert key_bytes("backspace", "\x08") == b"\x7f"
    assert key_bytes("ctrl+c", None) == b"\x03"
    assert key_bytes("ctrl+d", None) == b"\x04"
    assert key_bytes("up", None) == b"\x1b[A"
    assert key_bytes("up", None, app_cursor=True) == b"\x1bOA"
    assert key_bytes("ctrl+right", None) == b"\x1b[1;5C"
    assert key_bytes("shift+tab", None) == b"\x1b[Z"
    assert key_bytes("f5", None) == b"\x1b[15~"
    assert key_bytes("alt+b", "b") == b"\x1bb"
    assert key_bytes("ctrl+right_square_bracket", None) == b"\x1d"


def test_pyte_colours_map_to_rich():
    assert rich_color("default") is None
    assert rich_color("brown") == "yellow"
    assert rich_color("brightred") == "bright_red"
    assert rich_color("ff8700") == "#ff8700"


def test_log_buffer_splits_lines_across_chunks_and_streams():
    buffer = LogBuffer()
    assert buffer.feed(0, b"hel") == 0
    buffer.feed(1, b"oops\n")
    buffer.feed(0, b"lo\nwor\xc3")  # a UTF-8 sequence cut in two
    buffer.feed(0, b"\xa9ld\r\n")
    buffer.feed(0, b"progress 10%\rprogress 100%\n\tx\n")
    buffer.feed(1, b"no newline")
    buffer.flush()
    assert buffer.lines == ["oops", "hello", "woréld", "progress 100%", "        x", "no newline"]
    assert list(buffer.streams) == [1, 0, 0, 0, 0, 1]
    lines, streams = buffer.snapshot()
    assert plain_text(lines, streams, 1) == "oops\nno newline\n"


def test_log_buffer_measures_without_colour_codes():
    buffer = LogBuffer()
    buffer.feed(0, b"\x1b[31mred\x1b[0m\n")
    assert buffer.widths == [3]


def test_list_filters_by_text_and_status_and_sorts():
    records = {r.id: r for r in SAMPLE}
    assert visible_ids(records, "", "all", "age", False, FIXED_NOW)[:2] == ["4e5f6071", "0a1b2c3d"]
    assert visible_ids(records, "REINDEX", "all", "age", False, FIXED_NOW) == ["2c3d4e5f"]
    assert visible_ids(records, "bob", "all", "age", False, FIXED_NOW) == ["0a1b2c3d"]
    assert visible_ids(records, "", "failed", "age", False, FIXED_NOW) == ["2c3d4e5f"]
    assert visible_ids(records, "", "all", "exit", False, FIXED_NOW)[:3] == ["1b2c3d4e", "2c3d4e5f", "3d4e5f60"]
    assert visible_ids(records, "", "all", "age", True, FIXED_NOW)[0] == "3d4e5f60"


def test_form_errors_name_the_field_with_the_cli_words():
    config = AppConfig()
    spec, errors = check("echo hi", {"memory": "lots", "cpu": "1"}, config, "me")
    assert spec is None and set(errors) == {"memory"}
    assert "memory='lots' is not a decimal number" in errors["memory"]
    spec, errors = check("echo hi", {"docker_tag": "v1"}, config, "me")
    assert set(errors) == {"docker_tag"} and "no image_repository is set" in errors["docker_tag"]
    with_repository = AppConfig(image_repository="registry.example.com/shop")
    spec, errors = check("echo hi", {"image": "alpine", "docker_tag": "v1"}, with_repository, "me")
    assert set(errors) == {"image", "docker_tag"}
    spec, errors = check("", {}, config, "me")
    assert set(errors) == {"command"}
    spec, errors = check("echo hi", {"memory": "2", "max_hours": "0.5"}, config, "me")
    assert errors == {} and spec.memory_gb == 2 and spec.max_hours == 0.5 and spec.initiated_by == "me"


def test_sparkline_is_scaled_to_what_was_requested():
    assert sparkline([0, 125, 250], 250, 10) == " ▄█"
    assert sparkline([1, 2, 3, 4], 4, 2) == "▄█"  # the whole life in two bars, each its highest


def ended(status: str, **fields):
    return record("x", status, "c", "2026-01-01T00:00:00Z", **fields)


def test_why_it_ended_says_the_code_once_then_why():
    oom = ended("failed", exit_code=137, reason="killed: out of memory")
    assert why_it_ended(oom) == "exit code 137: killed: out of memory; signal SIGKILL"
    assert why_it_ended(ended("complete", exit_code=0)) == "exited 0"
    # Nomad's Terminated message restates the code; only what it adds is kept.
    assert why_it_ended(ended("failed", exit_code=127, reason="Exit Code: 127")) == "exit code 127"
    message = ended("failed", exit_code=1, reason='Exit Code: 1, Signal: 0, Exit Message: "no such file"')
    assert why_it_ended(message) == 'exit code 1: Exit Message: "no such file"'
    stopped = ended("stopped", exit_code=0, reason="stopped by carol")
    assert why_it_ended(stopped) == "exit code 143: stopped by carol; the process exited 0"


def test_a_timeout_is_124_everywhere_with_the_signal_as_detail():
    timed_out = ended("timed_out", exit_code=143, reason="killed: exceeded max_hours")
    assert exit_status(timed_out) == 124
    assert exit_text(timed_out) == "124" and task_json(timed_out)["exit_code"] == 124
    assert cells(timed_out, FIXED_NOW)["exit"] == "124"
    assert task_table([timed_out]).splitlines()[1].split()[2] == "124"
    assert why_it_ended(timed_out) == "exit code 124: killed: exceeded max_hours; the process got SIGTERM (exit 143)"
    running = ended("running")
    assert exit_text(running) == "-" and task_json(running)["exit_code"] is None


def test_counts_read_as_words():
    assert plural(1, "line") == "1 line"
    assert plural(0, "task") == "0 tasks"
    assert plural(12345, "line") == "12,345 lines"


def test_columns_fit_wide_characters_by_cells():
    from rich.cells import cell_len

    for text in ("abc", "漢字テスト長い", "😀x😀", "a" * 30, ""):
        for width in (0, 1, 2, 5, 12):
            assert cell_len(fit(text, width)) == width
    assert fit("漢字テスト", 5) == "漢字…"


def test_log_lines_keep_colours_and_show_every_other_escape():
    from tapit.tui.log_buffer import log_text, shown, width_of

    text = log_text("\x1b[31mred\x1b[0m \x1b]0;title\x07 \x1b[2J \x9b1m")
    assert text.plain == "red \\e]0;title\\x07 \\e[2J \\x9b1m"
    assert (text.spans[0].start, text.spans[0].end, text.spans[0].style.color.number) == (0, 3, 1)  # red
    assert shown("\x1b[1mbold\x1b[0m\x07") == "bold\\x07" and width_of("\x1b[1mbold\x1b[0m\x07") == 8


def test_usage_over_a_long_life_fits_its_buckets_and_keeps_its_peaks():
    from tapit.tui.usage_history import BUCKETS, UsageHistory

    usage = UsageHistory()
    for second in range(BUCKETS * 5):
        usage.add(900.0 if second == 1234 else 100.0, second / 10)
    assert len(usage.cpu) <= BUCKETS and usage.samples == BUCKETS * 5
    assert usage.peak_cpu == 900.0 and usage.peak_memory == (BUCKETS * 5 - 1) / 10
    assert usage.cpu.count(900.0) == 1 and usage.memory == sorted(usage.memory)  # still in time order


def test_each_task_keeps_its_own_usage_seen():
    from tapit.tui.usage_history import KEPT_TASKS, Histories

    histories = Histories()
    histories.of("a").add(1, 1)
    for i in range(KEPT_TASKS - 1):
        histories.of(f"t{i}")
    assert histories.of("a").samples == 1  # looked at again: still there
    histories.of("one-more")
    assert histories.of("t0").samples == 0  # the least recently looked at was let go
