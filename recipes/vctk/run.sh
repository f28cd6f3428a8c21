#!/usr/bin/env bash
# VCTK (0.80 or 0.92, or a partial VCTK-like tree): 20 speakers, 10 female and 10 male.
#
#   VCTK_ROOT=/path/to/VCTK ./run.sh [--conf conf.yaml|conf.cpu.yaml] [--stage N] [--stop-stage N]
#                                    [--set section.key=value ...] [--vocoder true] [--ngpu N]
#
# Stages:
#   0  check the corpus under $VCTK_ROOT (wav48_silence_trimmed/ = 0.92, wav48/ = 0.80, or pXXX/ folders)
#   1  vc-prep: features, train/dev/test split, statistics                 -> dump/<name>
#   2  vc-train-vocoder: HiFi-GAN on the corpus (only with --vocoder true)  -> exp/<name>/vocoder
#   3  vc-train                                                             -> exp/<name>/checkpoints
#   4  convert test utterances to every other speaker (--num-samples N per speaker, default 2)
#                                                                           -> exp/<name>/samples
#   5  vc-eval: objective scores and report                                 -> exp/<name>/eval/report.html
#
# Options: --ckpt PATH (stages 4-5; default the newest checkpoint), --num-samples N (0: all).
# Speakers of conf*.yaml that the corpus lacks are skipped with a note (data.missing_domains: skip).
set -euo pipefail
cd "$(dirname "$0")"
num_samples=2
. ../utils/common.sh
parse_options "$@"

if stage_on 0; then
    root=$(conf_get data.root)
    if [[ $root == *VCTK_ROOT* && -z ${VCTK_ROOT:-} ]]; then
        die "set VCTK_ROOT to the VCTK folder (the one holding wav48_silence_trimmed/ or wav48/), e.g." \
            "VCTK_ROOT=/data/VCTK-Corpus-0.92 ./run.sh"
    fi
    root=$(expand_path "$root")
    [[ -d $root ]] || die "$root: VCTK folder not found"
    if [[ -d $root/wav48_silence_trimmed ]]; then
        layout="VCTK 0.92 (wav48_silence_trimmed/, flac, microphone $(conf_get data.vctk_mic))"
    elif [[ -d $root/wav48 ]]; then
        layout="VCTK 0.80 (wav48/)"
    elif compgen -G "$root/p[0-9]*/" > /dev/null; then
        layout="a VCTK-like tree of speaker folders"
    else
        die "$root: neither wav48_silence_trimmed/ (VCTK 0.92), wav48/ (VCTK 0.80) nor pXXX/ speaker folders"
    fi
    log "stage 0: $root is $layout"
fi
run_shared_stages
