#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder's image
# (Ubuntu): what the stages, their tests and their peers need, as .ci/run
# installs them; then the reference build of the tests, so that grading a
# submission compiles only the student's files.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends cmake g++ make python3 libgtest-dev \
  netcat-openbsd nginx
cd /autograder/source/netcat-by-hand
mkdir -p exercises
for n in 1 2 3 4 5; do make --no-print-directory exercise STAGE=$n >/dev/null; done
make --no-print-directory grade >/dev/null || true  # builds everything once; the skeletons score 0
rm -rf exercises
