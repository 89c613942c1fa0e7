"""Transformer networks (filled in by the transformer builders)."""
