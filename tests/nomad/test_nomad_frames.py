"""FrameDecoder against the byte shapes of Nomad's framed log stream (reference §5.1)."""

import base64
import json

import pytest

from tapit.nomad.frames import MAX_PENDING_CHARS, FrameDecoder, frame_data, is_heartbeat

# Shapes from the reference: data frames, a heartbeat, file events, no delimiters.
STREAM = (
    b'{"Offset":5,"Data":"aGVsbG8K","File":"alloc/logs/main.stdout.0"}'
    b"{}"
    b'{"Offset":3604480,"Data":"NTMxOTMyCjUzMTkzMwo=","File":"alloc/logs/redis.stdout.0"}'
    b'{"Offset":123,"File":"alloc/logs/redis.stdout.0","FileEvent":"file truncated"}'
    b'{"File":"alloc/logs/redis.stdout.0","FileEvent":"file deleted"}'
    b"{}"
)
EXPECTED = [
    json.loads(part)
    for part in (
        '{"Offset":5,"Data":"aGVsbG8K","File":"alloc/logs/main.stdout.0"}',
        "{}",
        '{"Offset":3604480,"Data":"NTMxOTMyCjUzMTkzMwo=","File":"alloc/logs/redis.stdout.0"}',
        '{"Offset":123,"File":"alloc/logs/redis.stdout.0","FileEvent":"file truncated"}',
        '{"File":"alloc/logs/redis.stdout.0","FileEvent":"file deleted"}',
        "{}",
    )
]


def decode_in_pieces(data: bytes, cuts: list[int]) -> list[dict]:
    decoder = FrameDecoder()
    frames, start = [], 0
    for cut in [*cuts, len(data)]:
        frames += decoder.feed(data[start:cut])
        start = cut
    assert not decoder.pending
    return frames


def test_whole_stream_in_one_chunk():
    assert decode_in_pieces(STREAM, []) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_split_at_every_byte_position(cut):
    assert decode_in_pieces(STREAM, [cut]) == EXPECTED


def test_one_byte_at_a_time():
    assert decode_in_pieces(STREAM, list(range(1, len(STREAM)))) == EXPECTED


def test_frames_are_returned_as_soon_as_complete():
    decoder = FrameDecoder()
    first = b'{"Offset":5,"Data":"aGVsbG8K","File":"alloc/logs/main.stdout.0"}'
    assert decoder.feed(first[:-1]) == []
    assert decoder.pending
    assert decoder.feed(first[-1:] + b"{") == [EXPECTED[0]]
    assert decoder.pending
    assert decoder.feed(b"}") == [{}]
    assert not decoder.pending


def test_whitespace_between_and_around_frames_is_tolerated():
    data = b' \n{"Offset":1,"Data":"YQ==","File":"f"}\r\n\t{}  \n'
    assert decode_in_pieces(data, [1, 5, 40]) == [{"Offset": 1, "Data": "YQ==", "File": "f"}, {}]


@pytest.mark.parametrize("cut", range(1, 40))
def test_multibyte_utf8_split_across_chunks(cut):
    # Data is base64 (ASCII), but a File path carries the task name, which may be any UTF-8.
    data = '{"Offset":2,"Data":"aGkK","File":"alloc/logs/tâche-日本.stdout.0"}{}'.encode()
    assert decode_in_pieces(data, [cut]) == [
        {"Offset": 2, "Data": "aGkK", "File": "alloc/logs/tâche-日本.stdout.0"},
        {},
    ]


def test_non_object_stream_is_rejected():
    with pytest.raises(ValueError):
        FrameDecoder().feed(b"[1,2]")
    with pytest.raises(ValueError):
        FrameDecoder().feed(b"{}not json")


def test_garbage_that_never_completes_is_bounded():
    decoder = FrameDecoder()
    decoder.feed(b'{"Data":"')
    with pytest.raises(ValueError):
        decoder.feed(b"A" * (MAX_PENDING_CHARS + 1))


def test_a_large_frame_split_in_many_chunks():
    payload = bytes(range(256)) * 256  # 64 KiB, the largest Nomad frame
    frame = json.dumps({"Offset": len(payload), "Data": base64.b64encode(payload).decode(), "File": "f"}).encode()
    frames = decode_in_pieces(frame + b"{}", list(range(4096, len(frame), 4096)))
    assert frame_data(frames[0]) == payload
    assert is_heartbeat(frames[1])


def test_frame_data():
    assert frame_data(EXPECTED[0]) == b"hello\n"
    assert frame_data(EXPECTED[2]) == b"531932\n531933\n"
    assert frame_data({}) == b""
    assert frame_data({"Offset": 9, "File": "f", "FileEvent": "file deleted"}) == b""
    with pytest.raises(ValueError):
        frame_data({"Data": "not base64!"})


def test_is_heartbeat_matches_go_stream_frame():
    assert is_heartbeat({})
    assert is_heartbeat({"Offset": 0, "Data": "", "File": "", "FileEvent": ""})
    assert not is_heartbeat({"Offset": 5})
    assert not is_heartbeat({"Data": "YQ=="})
    assert not is_heartbeat({"File": "alloc/logs/main.stdout.0"})
    assert not is_heartbeat({"FileEvent": "file deleted"})
