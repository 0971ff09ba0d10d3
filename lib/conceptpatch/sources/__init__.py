"""Where a suite's checkpoints come from, one module per source.

A ``[model]`` section names one source: ``organism`` (`organism`), ``random`` (`random`), listed
``checkpoints`` and/or a ``glob`` of a training run's folders (`glob`). A listed checkpoint is of
one kind behind one protocol (`kinds`): a local folder (`local`), a hub id (`hub`) or a GGUF file
or package (`gguf`). The record every source makes is `checkpoint.Checkpoint`. Nothing here needs
torch, except building a tiny random model.
"""
