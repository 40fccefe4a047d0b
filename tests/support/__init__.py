"""Helpers shared by every test area (importable as `support.…`: pytest puts tests/ on sys.path)."""
