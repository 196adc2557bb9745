"""The sync bridge (``_bridge.CoreLoop``): one loop per process that threads and other loops
call the async core on.

Real threads, a real second event loop and a real ``fork``; nothing sleeps to wait for an
outcome (events and gates do), and every wait is bounded so that a broken bridge fails
rather than hangs.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import anyio.to_thread
import pytest

from oidc_kit import ProviderUnavailable, StoreUnavailable
from oidc_kit._audit import RequestContext, current_request, request_context
from oidc_kit._bridge import CoreLoop, CoreLoopClosed
from oidc_kit._single_flight import SingleFlight

#: The most any wait below may take: a bridge that lost a call fails the test, never hangs it.
BOUND = 5.0


@dataclass
class Built:
    """What the factory builds on the loop (standing in for a RelyingParty and its store)."""

    pid: int
    thread: int
    loop: asyncio.AbstractEventLoop
    closed_on: list[int] = field(default_factory=list)


builds: list[Built] = []


async def build() -> Built:
    built = Built(os.getpid(), threading.get_ident(), asyncio.get_running_loop())
    builds.append(built)
    return built


async def cleanup(built: Built) -> None:
    built.closed_on.append(threading.get_ident())


@pytest.fixture
def core() -> Iterator[CoreLoop[Built]]:
    builds.clear()
    bridge = CoreLoop(build, cleanup=cleanup)
    yield bridge
    bridge.close()


async def add(a: int, b: int = 1) -> int:
    await asyncio.sleep(0)
    return a + b


def loop_thread() -> int:
    return threading.get_ident()


def test_results_cross_from_coroutines_and_plain_functions(core: CoreLoop[Built]) -> None:
    assert not core.running  # lazy: nothing started before the first call
    assert core.call(add, 1) == 2
    assert core.call(add, 1, b=5) == 6
    assert core.call(sorted, [3, 1, 2]) == [1, 2, 3]
    # Both run on the loop's thread, where the factory built its object.
    assert core.call(loop_thread) == core.get().thread != threading.get_ident()
    assert core.running


def test_exceptions_cross_with_their_type_and_values(core: CoreLoop[Built]) -> None:
    raised: list[BaseException] = []

    async def fail(error: Exception) -> None:
        raised.append(error)
        raise error

    with pytest.raises(StoreUnavailable) as store_error:
        core.call(fail, StoreUnavailable("the store did not answer"))
    assert store_error.value is raised[-1]
    with pytest.raises(ProviderUnavailable) as provider_error:
        core.call(fail, ProviderUnavailable("token endpoint down"))
    assert provider_error.value is raised[-1]
    assert provider_error.value.code == "provider_unavailable"

    def plain() -> None:
        raise KeyError("plain")

    with pytest.raises(KeyError):
        core.call(plain)
    assert core.call(add, 2) == 3  # the loop survives its callers' errors


def test_threads_racing_the_first_call_get_one_loop(core: CoreLoop[Built]) -> None:
    gate = threading.Barrier(8)

    def first(_: int) -> int:
        gate.wait(BOUND)
        return core.call(loop_thread)

    with ThreadPoolExecutor(8) as pool:
        threads = list(pool.map(first, range(8), timeout=BOUND))
    assert len(set(threads)) == 1
    assert len(builds) == 1


def test_concurrent_calls_from_many_threads(core: CoreLoop[Built]) -> None:
    def many(n: int) -> list[int]:
        return [core.call(add, n, b=i) for i in range(50)]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(many, range(16), timeout=BOUND))
    assert results == [[n + i for i in range(50)] for n in range(16)]
    assert len(builds) == 1


def test_a_single_flight_is_shared_by_every_thread(core: CoreLoop[Built]) -> None:
    # A session's refresh, as 20 request threads race it: one call runs, all share its result.
    flight: SingleFlight[str] = SingleFlight()
    callers = 20
    entered = 0
    runs = 0
    gate = asyncio.Event()  # bound to the core loop at its first wait

    async def work() -> str:
        nonlocal runs
        runs += 1
        await gate.wait()  # held until every caller has joined the flight
        return "refreshed"

    async def refresh() -> str:
        nonlocal entered
        entered += 1
        if entered == callers:
            gate.set()
        return await flight.run("sid-1", work)

    with ThreadPoolExecutor(callers) as pool:
        results = list(pool.map(lambda _: core.call(refresh), range(callers), timeout=BOUND))
    assert results == ["refreshed"] * callers
    assert runs == 1


def test_the_callers_context_goes_with_the_call(core: CoreLoop[Built]) -> None:
    # The request an adapter binds for audit events is seen by the core on the loop.
    async def seen() -> str | None:
        context = current_request()
        return None if context is None else context.request_id

    with request_context(lambda: RequestContext(request_id="req-1")):
        assert core.call(seen) == "req-1"
    assert core.call(seen) is None


async def test_acall_from_another_loop(core: CoreLoop[Built]) -> None:
    assert await core.acall(add, 2, b=3) == 5
    assert await core.acall(loop_thread) == core.get().thread != threading.get_ident()
    with pytest.raises(StoreUnavailable):
        await core.acall(_raise_store_unavailable)
    with request_context(lambda: RequestContext(request_id="req-2")):
        assert await core.acall(_request_id) == "req-2"


async def _raise_store_unavailable() -> None:
    raise StoreUnavailable("the store did not answer")


async def _request_id() -> str | None:
    context = current_request()
    return None if context is None else context.request_id


async def test_cancelling_acall_cancels_the_call_on_the_core_loop(core: CoreLoop[Built]) -> None:
    started = threading.Event()
    cancelled = threading.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(BOUND * 2)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.create_task(core.acall(slow))
    assert await anyio.to_thread.run_sync(started.wait, BOUND)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # acall returns only once the call on the core loop has unwound.
    assert cancelled.is_set()


def test_calling_from_the_loops_own_thread_is_refused(core: CoreLoop[Built]) -> None:
    async def nested_call() -> int:
        return core.call(add, 1)

    async def nested_acall() -> int:
        return await core.acall(add, 1)

    with pytest.raises(RuntimeError, match="await it directly"):
        core.call(nested_call)
    with pytest.raises(RuntimeError, match="await it directly"):
        core.call(nested_acall)
    with pytest.raises(RuntimeError, match="wait on itself"):
        core.call(core.close)
    assert core.call(add, 1) == 2  # and the loop goes on


def test_close_runs_the_cleanup_on_the_loop_and_later_calls_fail(core: CoreLoop[Built]) -> None:
    built = core.get()
    (loop,) = [t for t in threading.enumerate() if t.ident == built.thread]
    core.close()
    core.close()  # idempotent: the cleanup ran once
    assert built.closed_on == [built.thread]
    assert not core.running
    with pytest.raises(CoreLoopClosed):
        core.call(add, 1)
    with pytest.raises(CoreLoopClosed):
        asyncio.run(core.acall(add, 1))
    assert not loop.is_alive()


def test_closing_a_bridge_never_started_starts_nothing() -> None:
    builds.clear()
    bridge = CoreLoop(build, cleanup=cleanup)
    bridge.close()
    assert builds == []
    with pytest.raises(CoreLoopClosed):
        bridge.get()


def test_a_failing_build_starts_no_loop_and_the_next_call_retries() -> None:
    attempts: list[threading.Thread] = []

    async def flaky() -> int:
        attempts.append(threading.current_thread())
        if len(attempts) == 1:
            raise StoreUnavailable("the store did not answer")
        return len(attempts)

    bridge = CoreLoop(flaky)
    try:
        with pytest.raises(StoreUnavailable):
            bridge.get()
        assert not bridge.running
        assert not attempts[0].is_alive()  # the failed start's loop was stopped
        assert bridge.get() == 2
    finally:
        bridge.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_starts_a_fresh_loop_and_builds_its_own(core: CoreLoop[Built]) -> None:
    parent = core.get()  # started and built before the fork, as with gunicorn --preload
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        status = 1
        try:
            mine = core.get()
            report = {
                "pid": os.getpid(),
                "built_in": mine.pid,
                "loop_thread": core.call(loop_thread),
                "built_on": mine.thread,
                "builds": len(builds),
                "sum": core.call(add, 40, b=2),
            }
            os.write(write_end, json.dumps(report).encode())
            core.close()
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], BOUND)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        report = json.loads(os.read(read_end, 4096) or b"{}")
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    assert report, "the child's call never returned (it used its parent's dead loop?)"
    assert os.waitstatus_to_exitcode(status) == 0
    assert report["built_in"] == report["pid"] == pid  # built again, in the child
    assert report["loop_thread"] == report["built_on"]  # on the child's own loop
    assert report["builds"] == 2 and report["sum"] == 42
    # The parent's loop is untouched by the child's close().
    assert core.call(loop_thread) == parent.thread
    assert len(builds) == 1 and parent.closed_on == []
