"""The built-in workloads, one module per family: each declares a `BUILDERS` table of
name -> builder, which `workloads.registry` reads (this package imports nothing itself)."""
