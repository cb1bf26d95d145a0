#!/usr/bin/env bash
# Builds lethe (installing missing Debian packages when root) and runs every
# test with ctest. chromium and python3 are for the report rendering test;
# python3-numpy and python3-sklearn for the membership-inference oracles
# (mia_oracle, eval_mia), python3-torch for eval_mia's memorisation oracle;
# Open MPI for the data-parallel and suite-over-ranks tests.
# Then checks that the same sources build and pass as a single-process lethe
# without MPI.
set -euo pipefail
cd "$(dirname "$0")/.."
# Node.js and npm run the tokenizer oracle and fetch the real tokenizers
# (tests/tokenizer/install.sh). Debian's only where there is none: a Node.js
# installed otherwise (it may bundle npm) is left alone.
. scripts/deps.sh
command -v node >/dev/null && command -v npm >/dev/null || need_packages nodejs npm
./scripts/build.sh python3 python3-numpy python3-sklearn python3-torch chromium openmpi-bin libopenmpi-dev
(cd build && ctest --output-on-failure -j2)
cmake -S . -B build-nompi -DCMAKE_BUILD_TYPE=Release -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON >/dev/null
cmake --build build-nompi -j"$(nproc)"
cd build-nompi && ctest --output-on-failure -j2 \
  -E 'report_render|test_pipeline|suite_resume|test_synthetic|tokenizer_oracle|own_model'
