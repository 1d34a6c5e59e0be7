#!/usr/bin/env python3
"""Which b-trees a SQLite write load dirties: WAL frames per commit, by owner.

Usage: wal_frames.py WAL_COPY DATABASE

WAL_COPY is a copy of `<db>-wal` taken while the server is under load
(`cp` is enough: frames are only appended, and a torn last frame is
ignored); DATABASE is the database file, read only (for instance the one
`hilos-bench --work-dir DIR` leaves in DIR after the run). Every frame of the
WAL's current generation is counted once, against the table or index that
owns its page according to SQLite's `dbstat` table.
"""

import collections
import sqlite3
import struct
import sys


def frames(wal):
    """Page numbers of the frames, and the number of commits among them."""
    page_size = struct.unpack(">I", wal[8:12])[0]
    salt = wal[16:24]
    pages, commits, offset = [], 0, 32
    while offset + 24 + page_size <= len(wal):
        page, size_after_commit = struct.unpack(">II", wal[offset : offset + 8])
        if wal[offset + 8 : offset + 16] != salt:
            break  # a frame left over from an earlier generation
        pages.append(page)
        commits += size_after_commit != 0
        offset += 24 + page_size
    return pages, commits


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], "rb") as f:
        pages, commits = frames(f.read())
    if not commits:
        sys.exit("no commit in this WAL copy")
    db = sqlite3.connect(f"file:{sys.argv[2]}?mode=ro", uri=True)
    owner = {page: name for name, page in db.execute("SELECT name, pageno FROM dbstat")}
    print(f"{len(pages)} frames, {commits} commits, {len(pages) / commits:.2f} frames per commit")
    counts = collections.Counter(owner.get(page, "(not in the database now)") for page in pages)
    for name, n in counts.most_common():
        print(f"{n / commits:7.2f}  {name}")


if __name__ == "__main__":
    main()
