#!/usr/bin/env bash
# Runs hetc's whole test suite on a fresh machine: installs what the tests need, writes the
# shared models' external weights, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

SHARED=../shared
if [ ! -d "$SHARED/models" ]; then
    echo "error: $SHARED/models is missing; the tests read the shared assets beside the repo" >&2
    exit 2
fi

# numpy writes the large models' weights (materialize.py checks each file's sha256).
if ! python3 -c 'import numpy' 2>/dev/null; then
    python3 -m pip install --quiet numpy
fi
python3 "$SHARED/models/materialize.py"

# The GPU tests run on lavapipe (Mesa's software Vulkan) when the machine has no GPU. They fail,
# not skip, without any adapter, so install it where we can (as root, non-interactively).
if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers
    else
        echo "warning: lavapipe (mesa-vulkan-drivers) is missing and this is not root; GPU tests need an adapter" >&2
    fi
fi
# Mesa's Vulkan drivers complain on every instance without it.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

cargo test --workspace --locked

# The largest models' GPU and co-execution plans on lavapipe: minutes in a debug build, about
# two minutes in release, so these tests are ignored above and run here.
cargo test --release --locked -p hetc-compile --test gpu_models -p hetc --test coexec_models -- --ignored

# The runtime must build for 64-bit Arm (phones): its portable kernels vectorise to NEON there.
rustup target add aarch64-unknown-linux-gnu
cargo check --locked --target aarch64-unknown-linux-gnu -p hetc-runtime -p hetc
