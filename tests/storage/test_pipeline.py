"""The bounded pipeline behind the stores' puts: parts, and one job in flight.

These run without any server; how the stores use them (and clean up after failures) is tested
against real backends in ``test_objects.py``.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.objects.pipeline import OneInFlight, PartSource


class CallerFailed(Exception):
    """Raised by a test's chunk iterator, as the caller's own error."""


class WorkerFailed(Exception):
    """Raised by a job on the helper thread, as a failed write or upload would."""


def threads_named(prefix: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(prefix)]


def cut(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    position = 0
    for size in itertools.cycle(sizes):
        if position >= len(data):
            return
        yield data[position : position + size]
        position += size


# --- PartSource ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(0, 200),
    part_size=st.integers(1, 40),
    sizes=st.lists(st.integers(0, 70), min_size=1, max_size=5).filter(any),
)
def test_parts_are_exactly_part_size_except_the_last(
    size: int, part_size: int, sizes: list[int]
) -> None:
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    source = PartSource(cut(data, sizes), part_size)
    parts = [(part.number, bytes(part.data), part.last) for part in source]

    assert b"".join(body for _, body, _ in parts) == data
    assert [number for number, _, _ in parts] == list(range(1, len(parts) + 1))
    assert [last for _, _, last in parts] == [False] * (len(parts) - 1) + [True]
    assert all(len(body) == part_size for _, body, _ in parts[:-1])
    assert 0 < len(parts[-1][1]) <= part_size or parts == [(1, b"", True)]
    assert source.total == size


def test_empty_input_is_one_empty_last_part() -> None:
    parts = list(PartSource([b"", b""], 8))
    assert [(part.number, bytes(part.data), part.last) for part in parts] == [(1, b"", True)]


def test_exact_multiple_of_the_part_size_has_no_empty_trailing_part() -> None:
    parts = [(bytes(part.data), part.last) for part in PartSource([b"abcd", b"efgh", b""], 4)]
    assert parts == [(b"abcd", False), (b"efgh", True)]


def test_part_stays_intact_while_the_next_one_is_filled() -> None:
    # A OneInFlight job may still be sending part N while part N + 1 is being filled.
    source = iter(PartSource(cut(bytes(range(100)), [3]), 10))
    first = next(source)
    second = next(source)
    assert bytes(first.data) == bytes(range(10))
    assert bytes(second.data) == bytes(range(10, 20))


def test_caller_may_reuse_its_chunk_buffer_once_asked_for_the_next_chunk() -> None:
    def reused() -> Iterator[bytearray]:
        buffer = bytearray(3)
        for value in range(5):
            buffer[:] = bytes([value]) * 3
            yield buffer

    parts = [bytes(part.data) for part in PartSource(reused(), 4)]
    assert b"".join(parts) == b"".join(bytes([value]) * 3 for value in range(5))


def test_caller_exception_propagates_unchanged_and_is_remembered() -> None:
    error = CallerFailed("client went away")

    def chunks() -> Iterator[bytes]:
        yield b"x" * 10
        raise error

    source = PartSource(chunks(), 4)
    with pytest.raises(CallerFailed) as raised:
        list(source)
    assert raised.value is error
    assert source.failure is error


def test_part_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="part_size"):
        PartSource([], 0)


# --- OneInFlight --------------------------------------------------------------------------------


def test_jobs_run_one_at_a_time_in_order_on_one_thread() -> None:
    running = 0
    overlap = False
    order: list[int] = []
    lock = threading.Lock()

    def job(number: int) -> None:
        nonlocal running, overlap
        with lock:
            running += 1
            overlap = overlap or running > 1
        time.sleep(0.005)
        order.append(number)
        with lock:
            running -= 1

    with OneInFlight("test-one-in-flight") as worker:
        for number in range(6):
            worker.submit(functools.partial(job, number))
    assert order == list(range(6))
    assert not overlap
    assert threads_named("test-one-in-flight") == []


def test_failed_job_is_raised_at_the_next_submit() -> None:
    ran: list[str] = []

    def fail() -> None:
        raise WorkerFailed("upload failed")

    def put() -> None:
        with OneInFlight("test-one-in-flight") as worker:
            worker.submit(fail)
            worker.submit(lambda: ran.append("second"))

    with pytest.raises(WorkerFailed):
        put()
    assert ran == []
    assert threads_named("test-one-in-flight") == []


def test_failed_last_job_is_raised_when_the_block_ends() -> None:
    def fail() -> None:
        raise WorkerFailed("last part failed")

    with pytest.raises(WorkerFailed), OneInFlight("test-one-in-flight") as worker:
        worker.submit(fail)
    assert threads_named("test-one-in-flight") == []


def test_leaving_by_exception_waits_for_the_job_in_flight() -> None:
    finished = threading.Event()

    def slow() -> None:
        time.sleep(0.05)
        finished.set()

    def put() -> None:
        with OneInFlight("test-one-in-flight") as worker:
            worker.submit(slow)
            raise CallerFailed("while a job is in flight")

    with pytest.raises(CallerFailed):
        put()
    assert finished.is_set()
    assert threads_named("test-one-in-flight") == []


def test_no_thread_is_started_without_a_job() -> None:
    with OneInFlight("test-one-in-flight"):
        assert threads_named("test-one-in-flight") == []
