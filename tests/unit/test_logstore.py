"""The log store's layout and encoding, and a file:// store as obstore writes it."""

import pytest

from tapit.errors import UsageError
from tapit.trail import logformat
from tapit.trail.logformat import StreamState
from tapit.trail.logstore import LogStore


def test_a_chunk_reads_back_as_written_with_where_each_stream_stood():
    states = {"stdout": StreamState(2, 40, {1: 100, 2: 40}, 7, 147), "stderr": StreamState()}
    records = [("stdout", b"line\n"), ("stderr", b"\x00binary\nno newline"), ("stdout", b"")]
    data = b"".join(logformat.encode_chunk(3, states, records))
    decoded, start = logformat.decode_header(data)
    assert decoded == states
    assert [(s, bytes(d)) for s, d in logformat.decode_records(data, start)] == records


def test_a_cut_chunk_is_refused():
    data = b"".join(logformat.encode_chunk(0, {s: StreamState() for s in logformat.STREAMS}, [("stdout", b"abc")]))
    _, start = logformat.decode_header(data)
    with pytest.raises(ValueError, match="cut inside a record"):
        logformat.decode_records(data[:-1], start)


def test_only_the_latest_file_sizes_are_kept():
    state = StreamState(100, 5, {i: 10 for i in range(101)})
    assert sorted(StreamState.from_json(state.to_json()).sizes) == list(range(101 - logformat.KEPT_SIZES, 101))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://host/logs", "unknown scheme 'ftp://'"),
        ("/shared/logs", "unknown scheme ''"),
        ("file://relative/logs", "needs an absolute path"),
        ("s3:///prefix", "no bucket"),
    ],
)
def test_urls_tapit_cannot_use_are_bad_input(url, message):
    with pytest.raises(UsageError, match=message):
        logformat.check_url(url)


def test_the_store_is_found_again_from_a_records_logs_url():
    assert logformat.store_of("s3://b/p/default/1a2b3c4d/", "default", "1a2b3c4d") == "s3://b/p"
    with pytest.raises(ValueError):
        logformat.store_of("s3://b/p/other/1a2b3c4d/", "default", "1a2b3c4d")


def test_a_chunk_number_is_written_once(tmp_path):
    store = LogStore((tmp_path / "store").as_uri())
    empty = {s: StreamState() for s in logformat.STREAMS}
    assert store.put_chunk("default", "1a2b3c4d", 0, logformat.encode_chunk(0, empty, [("stdout", b"first\n")]))
    assert not store.put_chunk("default", "1a2b3c4d", 0, logformat.encode_chunk(0, empty, [("stdout", b"other\n")]))
    assert [(s, bytes(d)) for s, d in store.records("default", "1a2b3c4d")] == [("stdout", b"first\n")]
    assert store.resume_point("default", "1a2b3c4d")[0] == 1


def test_every_stream_is_written_whole_from_one_pass_over_the_records(tmp_path):
    store = LogStore((tmp_path / "store").as_uri())
    records = [("stdout", b"a" * 5), ("stderr", b"oops\n"), ("stdout", b"b" * 3)]
    store.put_streams("default", "1a2b3c4d", iter((s, memoryview(d)) for s, d in records))
    assert b"".join(store.stream("default", "1a2b3c4d", "stdout")) == b"aaaaabbb"
    assert b"".join(store.stream("default", "1a2b3c4d", "stderr")) == b"oops\n"
    assert store.manifest("default", "1a2b3c4d") is None
