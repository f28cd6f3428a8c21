#!/usr/bin/env bash
# Any-to-any voice conversion at CPU scale: convert to the voice of one clip of a speaker the model
# never trained on. Generates a bank of clearly different espeak-ng voices, trains a compact StarGAN v2
# with a shared style head and a projection discriminator on 32 of them, and scores conversion to
# the 8 held-out voices (and to 10 real VCTK speakers when ../shared/data/vctk_refs is there).
#
#   ./run.sh [--stage N] [--stop-stage N] [--conf conf.yaml] [--set section.key=value ...]
#
# Stages:
#   0  the voice bank (local/make_voices.py): training voices in data.root,     -> data/voices
#      the unseen voices beside it in <data.root>_unseen                        -> data/voices_unseen
#   1  vc-prep: features (WORLD), train/dev/test split, statistics              -> dump/voices
#   2  vc-train-vocoder (skipped unless --vocoder true; WORLD needs none)
#   3  vc-train for train.max_minutes (30 min)                                  -> exp/voices/checkpoints
#   4  convert test sentences to every other training voice (--num-samples per voice, default 1)
#                                                                               -> exp/voices/samples
#   5  vc-eval on the training voices (eval.targets): domain accuracy, speaker similarity, F0, MCD
#                                                                               -> exp/voices/eval/report.html
#   6  vc-eval --refs: test sentences of every training voice converted to the voice of each unseen
#      speaker's first clip                                       -> exp/voices/eval/unseen_espeak/scores.json
#      and, with --real-refs true and the folder present, of each real VCTK speaker of
#      <shared>/vctk_refs that is not a training voice            -> exp/voices/eval/unseen_vctk/scores.json
#
# Options: --sentences N (per voice, default 40), --voices N (training voices, 2-32, default 32),
#   --unseen N (held-out voices, 0-8, default 8), --real true|false (stage 0: also train on the 6 real
#   speakers of <shared>/vctk_mini and <shared>/arctic_mini, linked in; default false),
#   --real-refs true|false (stage 6: also the real VCTK references; default true),
#   --shared DIR (the shared data folder, default ../../../shared/data), --unseen-utts N (stage 6:
#   source sentences per training voice, default 1), --vocoder true|false, --ckpt PATH,
#   --num-samples N (stage 4, per voice; 0: all), --ngpu N.
# With --voices under 8, pass --set 'eval.targets=[]' (stage 5 then converts to every voice).
# Environment: OMP_NUM_THREADS (default: the number of cores, at most 4).
set -euo pipefail
cd "$(dirname "$0")"
num_samples=1
. ../utils/common.sh

sentences=40
voices=32
unseen=8
real=false
real_refs=true
shared=../../../shared/data
unseen_utts=1
recipe_opts[--sentences]=sentences
recipe_opts[--voices]=voices
recipe_opts[--unseen]=unseen
recipe_opts[--real]=real
recipe_opts[--real-refs]=real_refs
recipe_opts[--shared]=shared
recipe_opts[--unseen-utts]=unseen_utts
parse_options "$@"
case $real in true|false) ;; *) die "--real takes true or false, got $real" ;; esac
case $real_refs in true|false) ;; *) die "--real-refs takes true or false, got $real_refs" ;; esac
[[ $unseen_utts =~ ^[0-9]+$ ]] || die "--unseen-utts takes a number (0: all)"

# Small nets on a CPU: more than a few threads only adds synchronisation.
cores=$(nproc 2>/dev/null || echo 2)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$((cores < 4 ? cores : 4))}

mapfile -t values < <(conf_get data.root features.sample_rate)
((${#values[@]} == 2)) || exit 2
root=$(expand_path "${values[0]}")
# The unseen voices live outside data.root, so vc-prep never sees them: no config list to keep in step.
unseen_dir=${root%/}_unseen

if stage_on 0; then
    log "stage 0: $voices training voices in $root and $unseen unseen voices in $unseen_dir," \
        "$sentences sentences each"
    command -v espeak-ng > /dev/null || die "espeak-ng not found; install it (Debian/Ubuntu: apt-get install" \
        "espeak-ng; macOS: brew install espeak-ng), or run ../mini/local/install_espeak.sh, which tries to"
    real_args=()
    if [[ $real == true ]]; then
        for d in "$shared/vctk_mini" "$shared/arctic_mini"; do
            [[ -d $d ]] || die "$d: not found (--real true links the real speakers of it; see --shared)"
            real_args+=(--real-from "$d")
        done
    fi
    "$PY" local/make_voices.py --out "$root" --unseen-out "$unseen_dir" --sr "${values[1]}" \
        --sentences "$sentences" --voices "$voices" --unseen "$unseen" "${real_args[@]}"
fi

# Stage 6, after the shared stages 1-5 (run_shared_stages calls it before the summary).
# One vc-eval --refs run: $1 the folder of reference speakers, $2 its name under eval/.
eval_refs() {
    local out=$out_dir/eval/unseen_$2
    mkdir -p "$out"
    "$VC_BIN/vc-eval" --ckpt "$ckpt" --refs "$1" --max-utts "$unseen_utts" --out "$out" | tee "$out/headline.txt"
}

stage_unseen() {
    resolve_ckpt
    local ran=0
    # This stage's outputs, all rewritten: no stale scores from an earlier checkpoint or option.
    rm -rf "$out_dir/eval/unseen_espeak" "$out_dir/eval/unseen_vctk" "$out_dir/refs_vctk"
    if compgen -G "$unseen_dir/*/*.wav" > /dev/null; then
        log "stage 6: conversion to the unseen espeak-ng voices of $unseen_dir ($(basename "$ckpt"))"
        eval_refs "$unseen_dir" espeak
        ran=1
    else
        log "stage 6: no unseen espeak-ng voices in $unseen_dir (stage 0 with --unseen 0?)"
    fi
    local refs=$shared/vctk_refs
    if [[ $real_refs == true && -d $refs ]]; then
        # Only speakers that are not training voices (with --real true, p228 of vctk_mini is one).
        local linked=$out_dir/refs_vctk spk kept=() skipped=()
        mkdir -p "$linked"
        for spk in "$refs"/*/; do
            spk=$(basename "$spk")
            if [[ -e $root/$spk ]]; then skipped+=("$spk"); continue; fi
            ln -s "$(cd "$refs/$spk" && pwd)" "$linked/$spk"
            kept+=("$spk")
        done
        if ((${#skipped[@]})); then log "stage 6: ${skipped[*]} of $refs left out (training voices)"; fi
        if ((${#kept[@]})); then
            log "stage 6: conversion to the ${#kept[@]} real VCTK speakers of $refs"
            eval_refs "$linked" vctk
            ran=1
        fi
    elif [[ $real_refs == true ]]; then
        log "stage 6: $refs not found: no real-speaker references (see --shared)"
    fi
    ((ran)) || die "stage 6: no reference speakers to evaluate against"
}

recipe_stages() {
    if stage_on 6; then stage_unseen; fi
}
run_shared_stages
