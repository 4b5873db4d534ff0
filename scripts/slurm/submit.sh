#!/usr/bin/env bash
# No upstream counterpart: submits the whole prototype side as Slurm jobs: an N-task index build array, the index
# merge (afterok), an N-task inversion array (afterok) and the latent merge (afterok). Prints the job ids; the last
# one's success means $INDEX is built and every prototype's latent is cached in it.
# Usage: scripts/slurm/submit.sh INDEX FACES N
#   INDEX   the index folder to make (on a filesystem every node sees; parts go to INDEX.parts/)
#   FACES   the face folder tree (identity = first folder level)
#   N       tasks per array
# Environment: VOICESTYLE (the binary, default: voicestyle on PATH), BUILD_ARGS and INVERT_ARGS (more options of
# index build / index invert, word-split), SBATCH_OPTS (more sbatch options for every job, e.g. "--partition=cpu
# --account=lab"; they override the templates' #SBATCH lines), LOGS (folder of the job logs, default INDEX.logs).
set -euo pipefail
[ $# -eq 3 ] || { sed -n '5,13p' "$0" >&2; exit 64; }
here="$(cd "$(dirname "$0")" && pwd)"
INDEX="$(realpath -m "$1")" FACES="$(realpath "$2")" SHARDS="$3"
[[ "$SHARDS" =~ ^[1-9][0-9]*$ ]] || { echo "error: N must be a whole number ≥ 1 (got $SHARDS)" >&2; exit 64; }
LOGS="${LOGS:-$INDEX.logs}"
mkdir -p "$LOGS"
export INDEX FACES SHARDS VOICESTYLE="${VOICESTYLE:-voicestyle}" BUILD_ARGS="${BUILD_ARGS:-}" INVERT_ARGS="${INVERT_ARGS:-}"
submit() {  # sbatch with the common options; prints the job id
  # shellcheck disable=SC2086
  sbatch --parsable --export=ALL --output="$LOGS/%x-%j.out" ${SBATCH_OPTS:-} "$@" | cut -d';' -f1
}
build=$(submit --array=0-$((SHARDS - 1)) "$here/build.sbatch")
# A failed job cancels the jobs after it (--kill-on-invalid-dep) instead of leaving them pending.
merge=$(submit --dependency=afterok:"$build" --kill-on-invalid-dep=yes "$here/merge-index.sbatch")
invert=$(submit --array=0-$((SHARDS - 1)) --dependency=afterok:"$merge" --kill-on-invalid-dep=yes "$here/invert.sbatch")
latents=$(submit --dependency=afterok:"$invert" --kill-on-invalid-dep=yes "$here/merge-latents.sbatch")
echo "build $build merge-index $merge invert $invert merge-latents $latents"
