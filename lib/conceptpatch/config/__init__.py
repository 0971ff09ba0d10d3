"""Suite configuration: the TOML file's schema, its typed sections and the validated `Suite`.

Plain data and validation only: nothing here imports torch or loads a model (`conceptpatch check`
runs on it alone); `conceptpatch.resolve` makes a suite concrete.
"""
