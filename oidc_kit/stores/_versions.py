"""Version slots shared through one small file by every process that opens a SQLite store:
how one process tells the others, without a statement, that a session record changed.

SQLite has no change notice across processes that costs less than the statement it would
save (``PRAGMA data_version`` is itself a statement; the WAL index in the ``-shm`` file is
SQLite's internal format). So the kit keeps its own: ``<database>-versions``, 4,096 slots of
64 bits, mapped into each process's memory. A key hashes (CRC-32) to a slot. After every write
to a session key has committed, and before the write returns, the writer puts a fresh random
value in that key's slot. A reader notes the slot's value *before* its ``SELECT`` and keeps it
with the record; the record may be served from memory only while the slot still holds that
value. Hence:

- a write acknowledged by the kit anywhere on the machine is seen by the next read in every
  process: its slot changed before the write returned;
- a read that raced a write keeps a value noted before that write's change, so its record,
  old or new, is read again next time;
- two writers never lose each other's change: each writes a value of its own rather than
  incrementing (which would need a lock between processes); a slot equal to a noted value
  means no write since, short of a 1 in 2**64 draw;
- a slot shared by two keys only makes one's change re-read the other.

What the slots cannot see is a write that does not go through the kit (a hand edit, an older
version of the kit), or a process killed between its commit and its change of the slot. The
store bounds both with a lease: a record read from the file is trusted for
:data:`~oidc_kit.stores._near_cache.LEASE` at most (``stores/sqlite.py``).
"""

from __future__ import annotations

import mmap
import os
import secrets
import zlib

__all__ = ["SLOTS", "VersionSlots", "versions_path"]

#: Slots in the file (a power of two); 8 bytes each, so the file is 32 KiB.
SLOTS = 4096
_SIZE = SLOTS * 8


def versions_path(database: str) -> str:
    """The slots' file for a database file (beside it, as SQLite's ``-wal`` and ``-shm``)."""
    return database + "-versions"


class VersionSlots:
    """The version slots of one database, mapped into this process.

    Opening creates the file (``0600``, like the database) or extends a shorter one with zeros;
    ``OSError`` when it cannot be opened, given its disk blocks, or mapped.
    """

    def __init__(self, database: str) -> None:
        fd = os.open(versions_path(database), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _SIZE:
                # Extending never overwrites: several processes doing this at once is harmless
                # (writing zeros instead could wipe a slot another process just changed).
                os.ftruncate(fd, _SIZE)
            if hasattr(os, "posix_fallocate"):
                # Blocks on disk now, not at the first store into a page: a mapped page that
                # cannot get its block (a full disk) kills the process with SIGBUS; here it
                # is an OSError, and the store reads the file instead.
                os.posix_fallocate(fd, 0, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)  # MAP_SHARED: every process sees every store
        finally:
            os.close(fd)  # the mapping keeps the file
        #: The slots as 64-bit integers: reading one is a load, writing one a single store.
        self.slots = memoryview(self._map).cast("Q")

    @staticmethod
    def slot(key: str) -> int:
        """The slot of ``key``."""
        return zlib.crc32(key.encode("utf-8", "surrogateescape")) & (SLOTS - 1)

    def changed(self, slot: int) -> None:
        """A key of ``slot`` changed (its write has committed): a fresh value in the slot."""
        self.slots[slot] = secrets.randbits(64)

    def close(self) -> None:
        """Unmap the file."""
        self.slots.release()
        self._map.close()
