"""Lexicon sources, one module each (cldr, concepticon, multisimlex, long_csv) behind `registry`."""
