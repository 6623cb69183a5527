"""Entities, typed errors and settings. No I/O and no framework imports live here."""
