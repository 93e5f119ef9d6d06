"""Versions on disk: versions/<id>/, latest, archives, restore, and retention.

It reads a history only through :class:`.export.VersionReader`, never dulwich.
"""
