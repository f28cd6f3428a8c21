#!/usr/bin/env bash
# The self-contained demo behind `make demo`: no download, no corpus. Generates 4 English voices x 60
# sentences with espeak-ng, trains the compact CPU StarGAN v2 for a bounded time, converts held-out
# sentences to every other voice and writes the evaluation report.
#
#   ./run.sh [--stage N] [--stop-stage N] [--conf conf.yaml] [--set section.key=value ...]
#
# Stages:
#   0  generate the corpus with espeak-ng into data.root (local/make_corpus.py)
#   1  vc-prep: features (WORLD), train/dev/test split, statistics        -> dump/mini
#   2  vc-train-vocoder (skipped unless --vocoder true; WORLD needs none)
#   3  vc-train for train.max_minutes (12 min)                            -> exp/mini/checkpoints
#   4  convert the test sentences to every other voice                    -> exp/mini/samples
#   5  vc-eval: domain accuracy, speaker similarity, F0, MCD, report      -> exp/mini/eval/report.html
#
# Options: --sentences N (sentences per voice, default 60), --voices N (2-4, default 4),
#   --vocoder true|false, --ckpt PATH, --num-samples N (per voice in stage 4, default all), --ngpu N.
# Environment: OMP_NUM_THREADS (default: the number of cores, at most 4).
set -euo pipefail
cd "$(dirname "$0")"
. ../utils/common.sh

sentences=60
voices=4
recipe_opts[--sentences]=sentences
recipe_opts[--voices]=voices
parse_options "$@"

# Small nets on a CPU: more than a few threads only adds synchronisation.
cores=$(nproc 2>/dev/null || echo 2)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$((cores < 4 ? cores : 4))}

if stage_on 0; then
    mapfile -t values < <(conf_get data.root features.sample_rate)
    ((${#values[@]} == 2)) || exit 2
    log "stage 0: corpus of $voices espeak-ng voices x $sentences sentences in ${values[0]}"
    command -v espeak-ng > /dev/null || die "espeak-ng not found; install it (Debian/Ubuntu: apt-get install" \
        "espeak-ng; macOS: brew install espeak-ng), or run 'make demo', which tries to"
    "$PY" local/make_corpus.py --out "${values[0]}" --sr "${values[1]}" --sentences "$sentences" --voices "$voices"
fi
run_shared_stages
