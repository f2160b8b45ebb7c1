"""FrameDecoder against the byte shapes of Nomad's framed log stream (api/fs.go StreamFrame)."""

import base64
import json

import pytest

from tapit.nomad.frames import MAX_PENDING_CHARS, FrameDecoder, LogFrame, data_frame, log_index

# Shapes of client/fs_endpoint.go's stream: data frames, a heartbeat, file events, no delimiters.
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
    assert data_frame(frames[0]) == LogFrame("f", len(payload), payload)
    assert data_frame(frames[1]) is None  # the heartbeat


def test_data_frame():
    assert data_frame(EXPECTED[0]) == LogFrame("alloc/logs/main.stdout.0", 5, b"hello\n")
    assert data_frame(EXPECTED[2]).data == b"531932\n531933\n"
    with pytest.raises(ValueError):
        data_frame({"Data": "not base64!", "File": "f", "Offset": 1})
    for malformed in ({"Data": "YQ=="}, {"Data": "YQ==", "File": "f", "Offset": "1"}, {"Data": 5, "File": "f"}):
        with pytest.raises(ValueError):
            data_frame(malformed)


def test_frames_without_data_are_dropped_as_go_stream_frame_heartbeats_and_file_events():
    assert data_frame({}) is None
    assert data_frame({"Offset": 0, "Data": "", "File": "", "FileEvent": ""}) is None
    assert data_frame({"Offset": 9, "File": "alloc/logs/main.stdout.0", "FileEvent": "file deleted"}) is None


def test_log_index_is_the_rotation_number():
    assert log_index("alloc/logs/main.stdout.0") == 0
    assert log_index("alloc/logs/my.task.stderr.12") == 12
    with pytest.raises(ValueError):
        log_index("alloc/logs/main.stdout")


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_feed_logs_decodes_the_data_frames_at_every_split(cut):
    """The log reader's path: data frames decoded from the bytes as received, the rest dropped."""
    decoder = FrameDecoder()
    logs = decoder.feed_logs(STREAM[:cut]) + decoder.feed_logs(STREAM[cut:])
    assert logs == [data_frame(f) for f in EXPECTED if data_frame(f) is not None]
    assert not decoder.pending


def test_feed_logs_takes_any_utf8_file_name_and_refuses_bad_base64():
    data = '{"Offset":2,"Data":"aGkK","File":"alloc/logs/tâche-日本.stdout.0"}{}'.encode()
    assert FrameDecoder().feed_logs(data) == [LogFrame("alloc/logs/tâche-日本.stdout.0", 2, b"hi\n")]
    with pytest.raises(ValueError):
        FrameDecoder().feed_logs(b'{"Offset":2,"Data":"not base64!","File":"f"}')
