"""Renderers: a finished Result (or its JSON) drawn for a terminal, a trace viewer or a
plot. Nothing here simulates: renderers import the Result model, never the engine."""
