#!/usr/bin/env bash
# Make sure espeak-ng (the demo corpus's speech synthesiser) is installed: through the system package
# manager when it is missing, with sudo when not root. Says clearly what to do when that is impossible.
set -uo pipefail

command -v espeak-ng > /dev/null 2>&1 && exit 0

echo "espeak-ng is not installed; the demo needs it to synthesise its corpus. Installing it..." >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo > /dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "not root and no sudo: cannot install packages" >&2
    fi
fi
if [[ $(id -u) -eq 0 || ${#sudo[@]} -gt 0 ]]; then
    if command -v apt-get > /dev/null 2>&1; then
        "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq espeak-ng
    elif command -v dnf > /dev/null 2>&1; then
        "${sudo[@]}" dnf install -y espeak-ng
    elif command -v yum > /dev/null 2>&1; then
        "${sudo[@]}" yum install -y espeak-ng
    elif command -v pacman > /dev/null 2>&1; then
        "${sudo[@]}" pacman -S --noconfirm espeak-ng
    elif command -v zypper > /dev/null 2>&1; then
        "${sudo[@]}" zypper --non-interactive install espeak-ng
    elif command -v apk > /dev/null 2>&1; then
        "${sudo[@]}" apk add espeak-ng
    fi
fi
if [[ $(uname -s) == Darwin ]] && command -v brew > /dev/null 2>&1 && ! command -v espeak-ng > /dev/null 2>&1; then
    brew install espeak-ng
fi

if ! command -v espeak-ng > /dev/null 2>&1; then
    cat >&2 <<'MSG'
error: could not install espeak-ng, which the demo needs to synthesise its corpus.
  Install it yourself and run `make demo` again:
    Debian/Ubuntu: sudo apt-get install espeak-ng      Fedora: sudo dnf install espeak-ng
    Arch: sudo pacman -S espeak-ng                     macOS: brew install espeak-ng
  (Or skip the demo and run a recipe on a corpus you have: recipes/vctk, recipes/tibetan.)
MSG
    exit 1
fi
echo "installed $(espeak-ng --version | head -n 1)" >&2
