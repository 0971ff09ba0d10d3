#!/usr/bin/env bash
# Submit the pair for a new checkpoint: compute.sbatch on a GPU node, then gate.sbatch on a CPU
# node, which Slurm starts only if the compute job succeeded (--dependency=afterok). Call it where
# the training run writes a checkpoint, or by hand:
#
#   examples/slurm/submit.sh [SUITE [CKPT [STORE [REPORT]]]]
#
# SUITE, CKPT, STORE, REPORT (and VENV, INCONCLUSIVE) as in compute.sbatch and gate.sbatch:
# arguments, else environment variables, else the defaults. Extra sbatch options for each job:
# COMPUTE_SBATCH_ARGS, GATE_SBATCH_ARGS (e.g. "--partition=gpu --account=myproj").
# Prints the two job ids; `sacct -j ID` shows the gate's state (FAILED = the gate failed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SUITE="${1:-${SUITE:-mine.toml}}"
CKPT="${2:-${CKPT:-}}"
STORE="${3:-${STORE:-results/mine}}"
REPORT="${4:-${REPORT:-gate-report}}"
if [ -z "$CKPT" ]; then
  echo "submit.sh: no checkpoint: pass CKPT (the new checkpoint's name) as argument 2 or in the environment" >&2
  exit 2
fi

# --parsable prints "jobid" or "jobid;cluster": keep the id
# shellcheck disable=SC2086  # the *_SBATCH_ARGS are lists of options
compute="$(sbatch --parsable ${COMPUTE_SBATCH_ARGS:-} "$here/compute.sbatch" "$SUITE" "$CKPT" "$STORE")"
compute="${compute%%;*}"
# shellcheck disable=SC2086
gate="$(sbatch --parsable --dependency="afterok:$compute" ${GATE_SBATCH_ARGS:-} \
  "$here/gate.sbatch" "$SUITE" "$CKPT" "$STORE" "$REPORT")"
gate="${gate%%;*}"
echo "compute job $compute; gate job $gate (starts when $compute succeeds)"
