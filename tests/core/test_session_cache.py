"""Decoded session records are remembered, and a remembered one answers as a fresh decode would:
the store is read on every load, a record whose bytes changed is decoded again, and the
timeouts are checked against the clock every time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from oidc_kit import MemoryStore, TokenSet
from oidc_kit import _session as session_module
from oidc_kit._audit import Auditor
from oidc_kit._session import _TOUCH_INTERVAL, Sessions
from tests.conftest import Clock, make_config
from tests.fake_op import ISSUER

IDLE = 600
ABSOLUTE = 3600


def _sessions(clock: Clock, store: MemoryStore | None = None) -> Sessions:
    config = make_config(session_idle_timeout=IDLE, session_absolute_timeout=ABSOLUTE)
    return Sessions(config, store or MemoryStore(clock=clock), clock, Auditor(clock=clock))


async def _create(sessions: Sessions, clock: Clock) -> str:
    now = clock()
    tokens = TokenSet("at-1", "Bearer", now + 3600, now, refresh_token="rt-1")
    claims = {"iss": ISSUER, "sub": "alice", "name": "Alice"}
    return (await sessions.create(tokens, claims, None)).sid


async def test_a_changed_record_is_decoded_again(clock: Clock) -> None:
    sessions = _sessions(clock)
    sid = await _create(sessions, clock)
    first = await sessions.load(sid)
    assert first is not None and first.claims["name"] == "Alice"
    assert await sessions.load(sid) is first  # remembered: the same bytes came back
    # Another request (or process) rewrites the record under the same id.
    changed = replace(first, claims={**first.claims, "name": "Alice B."})
    assert await sessions.save(changed)
    again = await sessions.load(sid)
    assert again is not None and again.claims["name"] == "Alice B."


async def test_a_remembered_record_still_ends_when_it_is_gone(clock: Clock) -> None:
    sessions = _sessions(clock)
    sid = await _create(sessions, clock)
    assert await sessions.load(sid) is not None
    await sessions.store.delete(sessions.key(sid))  # a logout elsewhere
    assert await sessions.load(sid) is None


async def test_a_remembered_record_still_times_out(clock: Clock) -> None:
    # The store's own expiry is the timeout + a grace: only the kit's check ends it here.
    sessions = _sessions(clock)
    sid = await _create(sessions, clock)
    assert await sessions.load(sid) is not None
    clock.advance(IDLE - 1)
    assert await sessions.load(sid) is not None  # seen: last_seen written back
    clock.advance(IDLE + 1)
    assert await sessions.load(sid) is None
    sid = await _create(sessions, clock)
    for _ in range(ABSOLUTE // (IDLE // 2)):
        assert await sessions.load(sid) is not None
        clock.advance(IDLE // 2)
    assert await sessions.load(sid) is None  # past the absolute timeout, however active


async def test_last_seen_is_written_back_once_the_interval_has_passed(clock: Clock) -> None:
    sessions = _sessions(clock)
    sid = await _create(sessions, clock)
    created = await sessions.load(sid)
    assert created is not None
    clock.advance(_TOUCH_INTERVAL - 1)
    assert await sessions.load(sid) is created  # nothing written
    clock.advance(1)
    touched = await sessions.load(sid)
    assert touched is not None and touched.last_seen == clock()
    raw = await sessions.store.get(sessions.key(sid))
    assert raw is not None and sessions._decode(sid, raw) == touched


async def test_the_remembered_records_are_bounded(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "_DECODED_CACHE", 3)
    sessions = _sessions(clock)
    sids = [await _create(sessions, clock) for _ in range(5)]
    for sid in sids:
        assert await sessions.load(sid) is not None
    assert list(sessions._decoded) == sids[2:]  # the least recently used went first
    assert await sessions.load(sids[2]) is not None
    assert list(sessions._decoded) == [*sids[3:], sids[2]]
