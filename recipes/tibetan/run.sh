#!/usr/bin/env bash
# Tibetan voice conversion between speakers, or between dialects (Ü-Tsang, Kham, Amdo). No corpus is
# bundled: point TIBETAN_ROOT at your own, laid out as <root>/<speaker_or_dialect>/*.{wav,mp3,flac},
# or at a list file of path|speaker[|text] lines.
#
#   TIBETAN_ROOT=/path/to/corpus ./run.sh [--dialects map.tsv] [--conf conf.yaml] [--stage N]
#                                         [--stop-stage N] [--set section.key=value ...] [--vocoder true]
#
# Stages:
#   0  check the corpus (a folder: generic layout; a file: list format)
#   1  vc-prep: 16 kHz features, train/dev/test split, statistics          -> dump/<name>
#   2  vc-train-vocoder: HiFi-GAN on the corpus (only with --vocoder true)  -> exp/<name>/vocoder
#   3  vc-train                                                             -> exp/<name>/checkpoints
#   4  convert test clips to every other domain (--num-samples N per domain, default 3)
#                                                                           -> exp/<name>/samples
#   5  vc-eval (no word error rate: the ASR is English-only)                -> exp/<name>/eval/report.html
#
# Options: --dialects FILE   label<TAB>domain lines mapping speakers (folder names or list labels) onto
#                            dialects; the domains become the dialects (data.domain_map)
#          --ckpt PATH (stages 4-5), --num-samples N (0: all), --ngpu N.
set -euo pipefail
cd "$(dirname "$0")"
num_samples=3
. ../utils/common.sh

dialects=""
recipe_opts[--dialects]=dialects
# Options that change the config come first, so parse_options checks the config with them.
args=("$@")
for ((i = 0; i < ${#args[@]} - 1; i++)); do
    if [[ ${args[i]} == --dialects ]]; then
        [[ -f ${args[i + 1]} ]] || die "${args[i + 1]}: dialect map not found"
        args+=(--set "data.domain_map=$(cd "$(dirname "${args[i + 1]}")" && pwd)/$(basename "${args[i + 1]}")")
    fi
done
root_env=${TIBETAN_ROOT:-}
if [[ -n $root_env && -f $root_env ]]; then
    args+=(--set data.format=list)  # a list file instead of a folder
fi
parse_options "${args[@]}"

if stage_on 0; then
    mapfile -t values < <(conf_get data.root data.format data.domain_map)
    ((${#values[@]} == 3)) || exit 2
    if [[ ${values[0]} == *TIBETAN_ROOT* && -z $root_env ]]; then
        die "set TIBETAN_ROOT to your corpus folder (<root>/<speaker_or_dialect>/*.wav) or list file, e.g." \
            "TIBETAN_ROOT=/data/tibetan ./run.sh"
    fi
    root=$(expand_path "${values[0]}")
    if [[ ${values[1]} == list ]]; then
        [[ -f $root ]] || die "$root: list file not found"
        log "stage 0: list file $root ($(grep -cv '^\s*\(#\|$\)' "$root") entries)"
    else
        [[ -d $root ]] || die "$root: corpus folder not found"
    fi
    [[ -z ${values[2]} ]] || log "stage 0: domains from the dialect map ${values[2]}"
    # What vc-prep will read, counted by vc-prep's own reader (linked folders included).
    summary_line=$("$PY" ../utils/corpus_check.py "$conf" "${overrides[@]}") || exit 2
    log "stage 0: $summary_line"
fi
run_shared_stages
