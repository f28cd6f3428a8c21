# shellcheck shell=bash
# What every recipe's run.sh shares: its options, finding the vc-* console scripts, and the stages
# that are the same for every corpus. A run.sh sources this file from its own folder:
#
#   cd "$(dirname "$0")"; . ../utils/common.sh; parse_options "$@"
#
# Options (after parse_options they are in the variables named in brackets):
#   --stage N          first stage to run (0) [stage]
#   --stop-stage N     last stage to run (100) [stop_stage]
#   --conf FILE        experiment config, relative to the recipe folder (conf.yaml) [conf]
#   --set K=V          config override passed to every vc-* command that reads the config, repeatable
#                      [overrides, as "--set" "K=V" pairs]
#   --vocoder BOOL     stage 2: train a neural vocoder with vc-train-vocoder (recipe default) [vocoder]
#   --ngpu N           stage 3: train on N GPUs with torchrun (default 1 process) [ngpu]
#   --ckpt PATH        checkpoint for stages 4-5 (default: the newest in train.out_dir) [ckpt]
#   --num-samples N    stage 4: source utterances per domain to convert (0: the whole test split) [num_samples]
# It also sets out_dir and dump_dir (train.out_dir and data.dump_dir of the resolved config).
# A recipe adds its own options by filling the associative array recipe_opts (option -> variable)
# before calling parse_options, e.g. recipe_opts[--sentences]=sentences.

stage=0
stop_stage=100
conf=conf.yaml
vocoder=${vocoder:-false}
ngpu=1
ckpt=""
num_samples=${num_samples:-0}
overrides=()
declare -A recipe_opts=()
recipe_name=$(basename "$PWD")

log() { echo "[$recipe_name] $*" >&2; }
die() { echo "error: $*" >&2; exit 2; }

usage() {
    # The comment block at the top of the calling run.sh, without the leading "# ".
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit "${1:-0}"
}

parse_options() {
    while (($#)); do
        case $1 in
            -h|--help) usage 0 ;;
            --stage|--stop-stage|--conf|--set|--vocoder|--ngpu|--ckpt|--num-samples)
                (($# >= 2)) || die "$1 needs a value"
                case $1 in
                    --stage) stage=$2 ;;
                    --stop-stage) stop_stage=$2 ;;
                    --conf) conf=$2 ;;
                    --set) overrides+=(--set "$2") ;;
                    --vocoder) vocoder=$2 ;;
                    --ngpu) ngpu=$2 ;;
                    --ckpt) ckpt=$2 ;;
                    --num-samples) num_samples=$2 ;;
                esac
                shift 2 ;;
            *)
                if [[ -n ${recipe_opts[$1]+x} ]]; then
                    (($# >= 2)) || die "$1 needs a value"
                    printf -v "${recipe_opts[$1]}" '%s' "$2"
                    shift 2
                else
                    echo "error: unknown option $1" >&2
                    usage 2 >&2
                fi ;;
        esac
    done
    [[ $stage =~ ^[0-9]+$ && $stop_stage =~ ^[0-9]+$ ]] || die "--stage and --stop-stage take stage numbers"
    [[ $ngpu =~ ^[0-9]+$ && $ngpu -ge 1 ]] || die "--ngpu takes a number of GPUs (1 or more)"
    [[ $num_samples =~ ^[0-9]+$ ]] || die "--num-samples takes a number (0: all)"
    case $vocoder in true|false) ;; *) die "--vocoder takes true or false, got $vocoder" ;; esac
    [[ -f $conf ]] || die "$PWD/$conf: config file not found"
    find_tools
    # Checks the whole config (and every --set) once, before any stage runs.
    local values
    mapfile -t values < <(conf_get train.out_dir data.dump_dir)
    ((${#values[@]} == 2)) || exit 2  # conf_get printed the error
    out_dir=${values[0]}
    dump_dir=${values[1]}
    # Say which config runs: the recipes' conf.yaml is paper scale, meant for a GPU.
    if [[ $conf == conf.yaml && -f conf.cpu.yaml ]]; then
        log "config: conf.yaml (paper scale, for a GPU; on a CPU-only machine pass --conf conf.cpu.yaml)"
    else
        log "config: $conf"
    fi
}

# VC_BIN: the folder holding vc-prep and friends; PY: the python they run with. The scripts on PATH
# win (an activated virtualenv), else the repository's own .venv (what `make venv` builds).
find_tools() {
    local found
    if found=$(command -v vc-prep); then
        VC_BIN=$(dirname "$found")
    elif [[ -x ../../.venv/bin/vc-prep ]]; then
        VC_BIN=$(cd ../../.venv/bin && pwd)
    else
        die "vc-prep not found: run 'make venv' in the repository and '. .venv/bin/activate' (or 'pip install -e .')"
    fi
    PY=$(head -n 1 "$VC_BIN/vc-prep" | sed 's/^#! *//')
    [[ -x $PY ]] || PY=$VC_BIN/python
}

# $1 with $VARS and ~ expanded, as vc-prep expands data.root.
expand_path() { "$PY" -c 'import os, sys; print(os.path.expandvars(os.path.expanduser(sys.argv[1])))' "$1"; }

# True when stage $1 is inside --stage .. --stop-stage.
stage_on() { ((stage <= $1 && $1 <= stop_stage)); }

# Resolved config values (dotted keys), one per line, checked like vc-train checks them.
conf_get() { "$PY" ../utils/conf_get.py "$conf" "${overrides[@]}" "$@"; }

# The newest step checkpoint in experiment folder $1 (empty when there is none).
newest_ckpt() {
    local dir=$1/checkpoints
    [[ -d $dir ]] || return 0
    find "$dir" -maxdepth 1 -name 'step_*.pt' | sort | tail -n 1
}

# Stage 1.
stage_prep() {
    log "stage 1: data preparation and features (vc-prep $conf)"
    "$VC_BIN/vc-prep" "$conf" "${overrides[@]}"
}

# Stage 2. Skipped unless --vocoder true; conversion then uses WORLD (WORLD features) or Griffin-Lim.
stage_vocoder() {
    if [[ $vocoder != true ]]; then
        log "stage 2: neural vocoder skipped (pass --vocoder true to train one with vc-train-vocoder)"
        return 0
    fi
    log "stage 2: neural vocoder (vc-train-vocoder $conf)"
    if [[ -n $(find "$out_dir/vocoder" -maxdepth 1 -name 'checkpoint-*steps.pkl' 2>/dev/null | head -n 1) ]]; then
        "$VC_BIN/vc-train-vocoder" "$conf" "${overrides[@]}" --resume
    else
        "$VC_BIN/vc-train-vocoder" "$conf" "${overrides[@]}"
    fi
}

# Stage 3. An experiment folder that already holds checkpoints is resumed, not refused.
stage_train() {
    local resume=()
    if [[ -n $(newest_ckpt "$out_dir") ]]; then
        log "stage 3: $out_dir already holds $(basename "$(newest_ckpt "$out_dir")"); resuming" \
            "(delete $out_dir to start over)"
        resume=(--resume)
    else
        log "stage 3: training (vc-train $conf) into $out_dir"
    fi
    if ((ngpu > 1)); then
        "$PY" -m torch.distributed.run --standalone --nproc_per_node "$ngpu" \
            "$VC_BIN/vc-train" "$conf" "${overrides[@]}" "${resume[@]}"
    else
        "$VC_BIN/vc-train" "$conf" "${overrides[@]}" "${resume[@]}"
    fi
}

# The checkpoint stages 4 and 5 use: --ckpt, else the newest in train.out_dir.
resolve_ckpt() {
    if [[ -z $ckpt ]]; then
        ckpt=$(newest_ckpt "$out_dir")
        [[ -n $ckpt ]] || die "no checkpoint in $out_dir/checkpoints: run stage 3 first, or pass --ckpt"
    fi
    [[ -f $ckpt ]] || die "$ckpt: checkpoint not found"
}

# Stage 4: the test split's utterances (--num-samples per domain) to every other domain.
stage_convert() {
    resolve_ckpt
    local samples n
    samples=$out_dir/samples
    log "stage 4: converting test utterances to every other domain into $samples ($(basename "$ckpt"))"
    rm -rf "$samples"
    n=$("$PY" ../utils/sample_lists.py --dump "$dump_dir" --out "$samples" --num "$num_samples")
    # One process for every conversion: the list names each source's domain (its F0 statistics).
    "$VC_BIN/vc-convert" --ckpt "$ckpt" --list "$samples/lists/all.tsv" --seed 0
    log "stage 4: wrote $n conversions to $samples/<utterance>/to_<target>.wav (sources as source.*)"
}

# Stage 5: objective scores and the HTML report; its headline is kept in eval/headline.txt.
stage_eval() {
    resolve_ckpt
    log "stage 5: evaluation (vc-eval) into $out_dir/eval"
    # The eval settings come from the checkpoint's config; --set eval.* overrides them here too.
    local i eval_sets=()
    for ((i = 1; i < ${#overrides[@]}; i += 2)); do
        if [[ ${overrides[i]} == eval.* ]]; then eval_sets+=(--set "${overrides[i]}"); fi
    done
    mkdir -p "$out_dir/eval"
    "$VC_BIN/vc-eval" --ckpt "$ckpt" --split test --out "$out_dir/eval" "${eval_sets[@]}" \
        | tee "$out_dir/eval/headline.txt"
}

# $1 as an absolute path (relative ones are relative to the recipe folder).
abspath() { if [[ $1 == /* ]]; then echo "$1"; else echo "$PWD/$1"; fi; }

# What a finished run leaves behind, for the user.
summary() {
    local newest
    newest=$(newest_ckpt "$out_dir")
    echo
    echo "== $recipe_name: done =="
    if [[ -n $newest ]]; then echo "checkpoint:      $(abspath "$newest")"; fi
    if [[ -d $out_dir/samples ]]; then echo "converted audio: $(abspath "$out_dir/samples")/"; fi
    if [[ -f $out_dir/eval/report.html ]]; then echo "report:          $(abspath "$out_dir/eval/report.html")"; fi
    if [[ -s $out_dir/eval/headline.txt ]]; then
        echo "headline:        $(head -n 1 "$out_dir/eval/headline.txt")"
        # vc-eval's lines 2-4: the verdict, the per-pair line, the gated baseline's verdict
        local line verdict labels=("baselines:" "by pair:" "gated baseline:")
        for line in 2 3 4; do
            verdict=$(sed -n "${line}p" "$out_dir/eval/headline.txt")
            if [[ -n $verdict ]]; then printf "%-17s%s\n" "${labels[line - 2]}" "$verdict"; fi
        done
    fi
    # vc-eval --refs runs (conversion to unseen speakers), as a recipe's extra stage writes them.
    local unseen
    for unseen in "$out_dir"/eval/unseen_*/headline.txt; do
        if [[ -s $unseen ]]; then printf "%-17s%s\n" "$(basename "$(dirname "$unseen")"):" "$(head -n 1 "$unseen")"; fi
    done
}

# Stages 1-5 are the same for every corpus (stage 0 is the recipe's own), then the summary. A recipe
# with stages after 5 defines a function recipe_stages, which runs after stage 5, before the summary.
run_shared_stages() {
    if stage_on 1; then stage_prep; fi
    if stage_on 2; then stage_vocoder; fi
    if stage_on 3; then stage_train; fi
    if stage_on 4; then stage_convert; fi
    if stage_on 5; then stage_eval; fi
    if declare -F recipe_stages > /dev/null; then recipe_stages; fi
    summary
}
