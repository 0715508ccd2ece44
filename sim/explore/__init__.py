"""Design-space exploration (`eie explore`): configs and encodings swept on the cycle model.

May import `eie` only (README, "Layout"); the benchmarks build on it.
"""
