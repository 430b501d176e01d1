"""Importers for the exports that collection tools write (docs/FORMATS.md, sections 3-6).

Each reads one tool's layout as the tool writes it and returns the same :class:`Export` as the
native layouts; :mod:`.detect` chooses one from what is on disk.
"""
