"""The engine: runs a pair by reading sides, planning with the core, and applying."""
