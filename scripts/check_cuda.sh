#!/usr/bin/env bash
# The one GPU check (npm run check:cuda): a smoke test, the GPU benchmark beside PyTorch, then the
# test suite, whose cuda cases run the op table on the GPU against PyTorch's fixtures.
# Results go to $OUT (the device tool's folder) or bench/results/. FIAMMA_CHECK_TESTS picks test files.
set -uo pipefail
out=${OUT:-bench/results}
mkdir -p "$out"
export FIAMMA_CACHE_DIR=${FIAMMA_CACHE_DIR:-/tmp/fiamma-cache}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$out/gpu.txt"
echo '--- smoke'
node --input-type=module -e "
import * as fm from './dist/src/index.js';
console.log('available', fm.cuda.isAvailable(), fm.cuda.unavailableReason());
const a = fm.arange(6, { device: 'cuda' }).float().reshape([2, 3]);
console.log(a.add(1).mul(a).toArray(), a.sum(1).toArray(), a.matmul(a.T).toArray(), a.exp().toArray());
" 2>&1 | head -40 | tee "$out/smoke.txt"
echo '--- bench'
timeout ${FIAMMA_CHECK_BENCH_S:-150} node dist/bench/cuda.js "$out/cuda-bench.json" 2>&1 | grep -v '^ ' | head -20
timeout 30 node dist/bench/cuda_launch.js > "$out/cuda-launch.json" 2>&1; cat "$out/cuda-launch.json"
echo '--- tests'
timeout ${FIAMMA_CHECK_TESTS_S:-300} node --test --test-reporter=tap ${FIAMMA_CHECK_TESTS:-dist/test/} > /tmp/tests.txt 2>&1
echo "tests exit $?"
grep -E '^# (tests|pass|fail|skipped)' /tmp/tests.txt | tee "$out/tests-summary.txt"
grep -B3 -A14 'not ok' /tmp/tests.txt | grep -v '^\s*\(duration_ms\|location\|failureType\|code\|stack\|---\|\.\.\.\)' | head -3000 > "$out/tests-failures.txt"
head -c 6000 "$out/tests-failures.txt"
