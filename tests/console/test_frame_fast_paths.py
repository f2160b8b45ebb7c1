"""The bulk-output fast paths (issue 16) write and read exactly what the general JSON paths do."""

import base64
import json
import os

from tapit.agent.execsession import _data_frame, _frame, _read
from tapit.nomad.exec import _plain_output
from tapit.transcript import Transcript, _plain_json_string, read_cast

SAMPLES = [b"", b"hi", b"line\r\n" * 1000, os.urandom(70_000)]
TEXTS = ["", "plain\r\n" * 100, 'a"b\\c\r\n', "\x1b[0m\t\x00\x7f", "é \u2028 ok\r\n", "\r", "\n\r"]


def test_agent_output_frame_is_the_json_frame():
    for data in SAMPLES:
        for name in ("stdout", "stderr"):
            assert _data_frame(name, data) == _frame(name, data=base64.b64encode(data).decode())


def test_client_reads_plain_output_frames_and_leaves_the_rest_to_json():
    for data in SAMPLES[1:]:
        assert _plain_output(_frame("stdout", data=base64.b64encode(data).decode())) == ("stdout", data)
        assert _plain_output(_frame("stderr", data=base64.b64encode(data).decode())) == ("stderr", data)
    for other in (
        '{"stdout":{"data":"aGk=","close":true}}',
        '{"stdout":{"close":true}}',
        '{"exited":true,"result":{}}',
        '{"stdout":{"data":"a\\u0047k="}}',  # an escape: json.loads must read it
        '{"stdout":{"data":"not base64!"}}',
        "{}",
    ):
        assert _plain_output(other) is None


def test_transcript_strings_are_json_dumps():
    for text in TEXTS + [os.urandom(5000).decode("latin-1")]:
        data = text.encode()
        plain = _plain_json_string(data)
        if set(text) <= set(map(chr, range(0x20, 0x80))) - {'"', "\\"} | {"\r", "\n"}:
            assert plain == json.dumps(text, ensure_ascii=False).encode()
        else:  # other controls or non-ASCII: decoded and escaped by the json module
            assert plain is None


def test_the_transcript_reads_back_what_was_output(tmp_path):
    chunks = [text.encode() for text in TEXTS] + [os.urandom(5000), "é".encode()[:1], "é".encode()[1:] + b"ok\r\n"]
    cast = Transcript(tmp_path / "console.cast", 80, 24, "sh", None)
    for chunk in chunks:
        cast.output(chunk)
    cast.close()
    _, events = read_cast(tmp_path / "console.cast")
    assert "".join(text for _, _, text in events) == b"".join(chunks).decode(errors="replace")


def test_pty_reads_gather_what_is_ready_into_one_buffer():
    import asyncio

    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    try:
        for _ in range(8):
            os.write(write_end, b"x" * 4096)
        buffer = bytearray(64 * 1024)
        assert asyncio.run(_read(read_end, buffer)) == b"x" * 8 * 4096
        os.close(write_end)
        write_end = -1
        assert asyncio.run(_read(read_end, buffer)) == b""
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
