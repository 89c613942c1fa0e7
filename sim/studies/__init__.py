"""Studies: questions answered with several simulations (what-ifs, LLM generation, sweeps)."""
