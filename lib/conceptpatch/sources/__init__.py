"""Checkpoint sources, one module each (local, hub, gguf, glob, organism, random); see `listed`."""
