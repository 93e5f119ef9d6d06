"""Pure values: artifact names and version ids, versions, safe paths, the commit graph.

Nothing here does I/O or imports dulwich; every other layer may import it.
"""
