"""Domain rules: who may see and do what, and how documents, resolutions and tasks change.

Route handlers call these functions and commit; nothing here commits except where noted.
"""
