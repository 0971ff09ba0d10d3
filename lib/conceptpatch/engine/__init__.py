"""The engine: a checkpoint in memory, read and patched at the query word, decoded greedily.

`checkpoints` loads a model safely and finds its decoder layers; `positions` maps the query word
onto tokens; `capture` reads latents; `patching` overwrites them from layer j up and decodes,
through `ladder` (shared lower layers), `kvcache` (caches that grow in place) and `greedy` (exact
argmax through a cheap screen of the output head). Everything here needs torch; nothing before
it in the data flow does.
"""
