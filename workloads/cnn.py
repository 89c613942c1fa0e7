"""Convolutional networks (filled in by the CNN builders)."""
