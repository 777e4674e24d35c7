#!/usr/bin/env bash
# Makes autograder.zip for Gradescope ("Zip file upload" autograder):
# setup.sh, run_autograder, and this project as committed (git archive:
# the tests and the reference stages, without anyone's exercises/).
# Usage: tools/exercise/gradescope/zip.sh [OUTPUT]   (default: autograder.zip)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
output=$(realpath -m "${1:-autograder.zip}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# From the top folder: git archive run in a subfolder archives only that subfolder.
top=$(git -C "$here" rev-parse --show-toplevel)
git -C "$top" archive --prefix=netcat-by-hand/ HEAD | tar -x -C "$work"
cp "$here/setup.sh" "$here/run_autograder" "$work/"
chmod +x "$work/setup.sh" "$work/run_autograder"
rm -f "$output"
(cd "$work" && zip -qr "$output" setup.sh run_autograder netcat-by-hand)
echo "wrote $output"
