"""The `clusterlink` command-line tool.

`main.py` builds the parser and registers the command groups; each group
module (`link_cmd`, `mirror_cmd`, `serve_cmd`, `sandbox_cmd`) exposes
`register(subparsers)` and sets `func(args) -> int` on its parsers.
"""
