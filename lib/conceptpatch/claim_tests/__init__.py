"""The claim tests of 'When Meanings Meet', shipped so that an installed package can run them.

Run them with ``conceptpatch claims SUITE`` (:mod:`conceptpatch.claims_command`) from any directory,
or with ``pytest claims/`` in a clone (thin modules that import these).
"""
