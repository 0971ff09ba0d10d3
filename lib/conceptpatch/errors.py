"""Errors raised to users: one line that names the problem and the fix."""


def first_line(err: BaseException) -> str:
    """The first line of a third-party error's message (its type when it has none): what a
    one-line conceptpatch error quotes of the cause."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class ConceptPatchError(Exception):
    """Base class of every error conceptpatch raises on bad input."""


class SuiteError(ConceptPatchError):
    """A suite file is malformed or names something that does not exist."""


class OrganismNotTrained(SuiteError):
    """The suite's organism is not in the cache yet (raised only when building is off)."""


class MissingData(SuiteError):
    """Local data the suite names is not there yet: ``check`` warns, ``run`` fails."""


class LexiconError(ConceptPatchError):
    """A lexicon is malformed or lacks a concept or language the run needs."""


class PromptError(ConceptPatchError):
    """A prompt cannot be built or its query position cannot be located."""


class CheckpointError(ConceptPatchError):
    """A checkpoint cannot be found, is unsafe to load, or has an unknown architecture."""


class StoreError(ConceptPatchError):
    """The results store is unwritable or was written by an incompatible version."""


class AnnotationError(ConceptPatchError):
    """An annotation sheet is malformed."""
