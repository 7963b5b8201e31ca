#!/usr/bin/env bash
# The one GPU check (npm run check:cuda): a smoke test, the GPU benchmark beside PyTorch (skipped with
# FIAMMA_CHECK_BENCH_S=0), device memory over a 10,000-step loop that disposes nothing, the demo and
# the DDP example on cuda, then the test suite, whose cuda cases run on the GPU against the cpu.
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
if [ "${FIAMMA_CHECK_BENCH_S:-200}" != 0 ]; then
  echo '--- bench'
  timeout ${FIAMMA_CHECK_BENCH_S:-200} node dist/bench/cuda.js "$out/cuda-bench.json" 2>&1 | grep -v '^ ' | head -20
  timeout 30 node dist/bench/cuda_launch.js > "$out/cuda-launch.json" 2>&1; cat "$out/cuda-launch.json"
fi
echo '--- memory of a plain training loop that disposes nothing'
timeout 150 node dist/bench/cuda_memory.js ${FIAMMA_MEMORY_STEPS:-10000} 1000 2>&1 | tail -5 | tee "$out/cuda-memory.json"
echo '--- the demo on cuda (one epoch)'
timeout 120 node dist/examples/mnist_cnn.js --device cuda --epochs 1 --quiet --out /tmp/fiamma-demo 2>&1 | tail -6 | tee "$out/demo-cuda.txt"
echo '--- DDP on nccl through the launcher (one GPU: world of one)'
timeout 90 node dist/src/cli.js run --nproc-per-node 1 dist/examples/ddp_mnist.js --device cuda --epochs 1 --out /tmp/fiamma-ddp.safetensors 2>&1 | tail -8 | tee "$out/ddp-cuda.txt"
echo '--- tests'
timeout ${FIAMMA_CHECK_TESTS_S:-300} node --test --test-reporter=tap ${FIAMMA_CHECK_TESTS:-dist/test/} > /tmp/tests.txt 2>&1
echo "tests exit $?"
grep -E '^# (tests|pass|fail|skipped)' /tmp/tests.txt | tee "$out/tests-summary.txt"
grep -B3 -A14 'not ok' /tmp/tests.txt | grep -v '^\s*\(duration_ms\|location\|failureType\|code\|stack\|---\|\.\.\.\)' | head -3000 > "$out/tests-failures.txt"
head -c 6000 "$out/tests-failures.txt"
