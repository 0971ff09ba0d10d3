"""Train an organism with the same bits on every x86-64 CPU: kernels pinned, in a fresh process.

CPU float kernels are chosen by the CPU at run time: ATen's vectorised code by its capability
(AVX-512 here, AVX2 on many machines) and MKL's GEMMs by its own dispatch (AVX2 on AMD, AVX-512
on recent Intel). Each sums in another order, so the same seed trained 900 steps on two machines
gives two different organisms, and a verdict at a claim's margin moves with the machine
(measured: the tiny organism's weights differ under ATEN_CPU_CAPABILITY unset / avx2 / default
and under MKL_CBWR unset / COMPATIBLE; issue 27's `concept_induction[en_en-en]`, inconclusive
here and refuted on another machine from the same commit). Training therefore always runs in a
child process started with `PORTABLE_ENV`: ATen's baseline kernels and MKL's conditional
numerical reproducibility mode, both read once when the process starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["PORTABLE_ENV", "portable_env", "train_portably"]

#: The environment every organism trains in (part of the organism's cache key, via this file).
PORTABLE_ENV: Mapping[str, str] = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"}


def portable_env() -> dict[str, str]:
    """This process's environment with `PORTABLE_ENV` and this package importable."""
    lib = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (lib, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, **PORTABLE_ENV, "PYTHONPATH": path}


def train_portably(variant: str, seed: int, out: Path, progress: bool = True) -> None:
    """Train organism ``variant`` into ``out`` in a child process under `PORTABLE_ENV`."""
    from conceptpatch.errors import ConceptPatchError

    command = [sys.executable, "-m", "conceptpatch.organism.portable", variant, str(seed),
               str(out), "1" if progress else "0"]
    status = subprocess.run(command, env=portable_env(), stdin=subprocess.DEVNULL).returncode
    if status != 0:
        raise ConceptPatchError(f"training organism {variant!r} (seed {seed}) failed with status"
                                f" {status} (its error is printed above): report it")


def main(argv: list[str]) -> None:
    """``python -m conceptpatch.organism.portable VARIANT SEED OUT PROGRESS``."""
    from conceptpatch.organism.recipes import get_recipe
    from conceptpatch.organism.train import train

    variant, seed, out, progress = argv
    train(get_recipe(variant), int(seed), Path(out), progress=progress == "1", variant=variant)


if __name__ == "__main__":
    main(sys.argv[1:])
