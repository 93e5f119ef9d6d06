"""One artifact's bare git repository: the only package that imports dulwich.

:mod:`.history` is the facade (record, resolve, trees, changes, caches), made of
parts with one job each: :mod:`.refs`, :mod:`.trees` (the strict tree check),
:mod:`.loose` and :mod:`.repack` (objects), and :mod:`.remote`,
:mod:`.transport`, :mod:`.localxfer` and :mod:`.bundle` (sharing).
:func:`.translate.translate` turns dulwich's (and zlib's) errors about damaged
objects into :class:`~gitversions.errors.CorruptionError`, where dulwich reads
whole histories on our behalf.
"""
