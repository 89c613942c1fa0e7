"""Beyond one chip: systems of chips, collectives on their links, tensor parallelism.

`run_system(model, load_system("hgx-h100"), tp=8)` simulates one chip's shard with the
single-chip pipeline and adds the collectives (sim/system/collectives.py) on the critical
path; `SystemResult` is the JSON contract and `render_system` draws it as text.
"""
