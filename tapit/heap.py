"""Keeping glibc's freed memory for reuse while a large log streams (both ends: the client and
the agent).

A log stream is read 1 MiB at a time (tapit/nomad/transport.py, tapit/agent/logstream.py), and
h11, the frame decoder, the framer and base64 each make a temporary of about that size. glibc
serves a block that large with a fresh mmap, or from heap space it handed back to the kernel as
soon as it was freed (its dynamic M_MMAP_THRESHOLD and M_TRIM_THRESHOLD), so every temporary is
page-faulted in anew: on this VM 200 MB of output cost the client 130,000 minor faults and half
its CPU time (0.9 CPU-s, 0.5 of it in the kernel), against 0.3 CPU-s once freed blocks stay in
the heap; the agent's framer, 60,000. Fixed thresholds keep them there: memory then stays at the
high-water mark of what is live at once (a few MiB of buffers), never in proportion to the output.
"""

from __future__ import annotations

import sys

# glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's own upper bound for the dynamic threshold
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
# A read this large is the first sign of a large log: smaller ones are served from the heap anyway
# (glibc's initial M_MMAP_THRESHOLD is 128 KiB), and a small log does not pay for importing ctypes.
LARGE_READ_BYTES = 128 * 1024

_tuned = False


def keep_freed_memory() -> bool:
    """Set fixed thresholds, once per process; False where there is no glibc mallopt to set."""
    global _tuned
    if _tuned:
        return True
    _tuned = True
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # 1 on success, 0 where the C library does not take the parameter (musl's mallopt is a stub).
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
