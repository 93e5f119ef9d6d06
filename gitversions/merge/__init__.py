"""Three-way merge of lines (:mod:`.lines`) and of trees (:mod:`.trees`).

Lines as ``git merge-file`` merges them, trees as merge-ort without rename
detection. Pure: bytes and flattened trees in, results and typed conflicts
out; no repository.
"""
