#!/bin/bash
# Reproduce the aarch64 (qemu user-mode) bit-identity check of the CloudSage anomaly kernel. Run as root on x86_64 Debian bookworm.
# Takes ~11 minutes; not part of CI. Usage: sudo bash benchmarks/native/arm64_check.sh [WORKDIR]
# Result on 2026-12-07: 170/170 cases equal on aarch64 (kernel vs Python), aarch64 == x86_64 byte for byte, 0 FMA.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd); HERE=$ROOT/benchmarks/native; DATA=${DATA:-$ROOT/../shared/data/nab/data}
W=${1:-/tmp/armcheck}; mkdir -p $W/build $W/wheels; cd $W
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user-static debootstrap binfmt-support file
update-binfmts --enable qemu-aarch64            # binfmt_misc was already mounted here; flags PF (F: works inside chroot)
# cross build with exactly native.CFLAGS
$ROOT/.venv/bin/python -c "import sys; sys.path.insert(0,'$ROOT/lambdas'); from pathlib import Path; from cloudsage.core import native; native.build(Path('$W/build/libcloudsage-aarch64.so'), 'aarch64-linux-gnu-gcc')"
file build/libcloudsage-aarch64.so              # ELF 64-bit LSB shared object, ARM aarch64
aarch64-linux-gnu-objdump -d build/libcloudsage-aarch64.so | grep -cE '\sf(n?madd|n?msub)\s' || true   # expect 0
# arm64 rootfs (second stage runs automatically through binfmt + qemu-aarch64-static)
debootstrap --arch=arm64 --variant=minbase --include=python3,python3-pip,python3-venv,file bookworm rootfs http://deb.debian.org/debian
cp /usr/bin/qemu-aarch64-static rootfs/usr/bin/
$ROOT/.venv/bin/python -m pip download --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
  --python-version 3.11 --implementation cp --abi cp311 --only-binary=:all: numpy==2.4.6 -d wheels
mkdir -p rootfs/work/wheels rootfs/work/nab
cp wheels/*.whl rootfs/work/wheels/
cp -r $ROOT/lambdas rootfs/work/lambdas
rm -f rootfs/work/lambdas/cloudsage/core/_native/libcloudsage-x86_64.so
find rootfs/work/lambdas -name __pycache__ -prune -exec rm -rf {} +
cp -r $DATA rootfs/work/nab/
cp build/libcloudsage-aarch64.so rootfs/work/lambdas/cloudsage/core/_native/
chroot rootfs /bin/bash -c 'python3 -m venv /work/venv && /work/venv/bin/pip install --no-index /work/wheels/numpy-*.whl'
# same inputs on both machines (generated once on the host)
$ROOT/.venv/bin/python $HERE/arm64_compare.py make-inputs $DATA inputs.npz
cp inputs.npz rootfs/work/ && cp $HERE/arm64_compare.py rootfs/work/compare.py
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$ROOT/lambdas $ROOT/.venv/bin/python $HERE/arm64_compare.py run inputs.npz out_x86_64
chroot rootfs /usr/bin/env -i PATH=/usr/bin:/bin PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=/work/lambdas \
  /work/venv/bin/python /work/compare.py run /work/inputs.npz /work/out_aarch64
cp -r rootfs/work/out_aarch64 .
$ROOT/.venv/bin/python $HERE/compare_hosts.py out_x86_64/results.json out_aarch64/results.json
