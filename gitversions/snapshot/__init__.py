"""Reading the source: the lstat walk, tree encoding, content hash, stat cache."""
