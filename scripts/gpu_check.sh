#!/usr/bin/env bash
# The GPU checks on a machine with an NVIDIA GPU and CuPy: the device-marked tests on the real
# GPU, then three short runs on cuda and on cpu (final losses and seconds per epoch side by side).
# Run from the repository root: TINYRPN_DATA=/path/to/mnist bash scripts/gpu_check.sh
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TINYRPN_DATA=${TINYRPN_DATA:?set TINYRPN_DATA to the MNIST folder} MPLBACKEND=Agg
nvidia-smi -L
python3 -c "import numpy, cupy, numba; print('numpy', numpy.__version__, 'cupy', cupy.__version__, 'numba', numba.__version__)"
echo "=== pytest -m device (real CuPy)"
start=$(date +%s)
timeout 240 python3 -m pytest -m device -q -p no:cacheprovider -n 8 -rfE --durations=10 --ignore=tests/test_tutorials.py --ignore=tests/test_display.py > ${OUT:-.}/pytest_device.log 2>&1; echo "pytest rc=$?"; grep -E "passed|failed|FAILED|ERROR" ${OUT:-.}/pytest_device.log | tail -30; tail -14 ${OUT:-.}/pytest_device.log
echo "pytest wall $(( $(date +%s) - start )) s"
for spec in "mlp_small:--limit-train 20000 --limit-test 5000" "rpn_taylor_dual_lphm:--limit-train 10000 --limit-test 2000" "lecun1989:--limit-train 2000 --limit-test 1000"; do
  cfg=${spec%%:*}; args=${spec#*:}
  for dev in cuda cpu; do
    echo "=== $cfg on $dev ($args, 2 epochs)"
    start=$(date +%s)
    timeout 80 python3 -m tinyrpn train $cfg --epochs 2 $args --device $dev --out /tmp/runs/${cfg}_$dev --no-progress 2>&1 | grep -E "^epoch|final|Error|error" | tail -5
    echo "wall $(( $(date +%s) - start )) s"
    python3 -c "import json; r=json.load(open('/tmp/runs/${cfg}_$dev/results.json')); print({k: r.get(k) for k in ('device','final_test_loss','final_test_acc','seconds_per_epoch')})" 2>&1 | tail -1
  done
done
