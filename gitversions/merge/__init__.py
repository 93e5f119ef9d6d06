"""Three-way merge: of lines (:mod:`.lines`, as git merge-file does)."""
