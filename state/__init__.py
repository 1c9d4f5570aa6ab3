"""The local state database (links, bases, cursors, conflicts, journal) on SQLite."""
