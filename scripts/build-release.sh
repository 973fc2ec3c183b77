#!/usr/bin/env bash
# Builds the release artefacts into dist/: manylinux wheels for x86_64 and aarch64 (maturin
# cross-compiles with zig, linking against glibc 2.17, so the wheels are tagged
# manylinux_2_17 / manylinux2014) and the sdist, then prints each wheel's tags as auditwheel
# reads them. Needs the Rust targets: rustup target add x86_64-unknown-linux-gnu
# aarch64-unknown-linux-gnu. TARGETS="x86_64-unknown-linux-gnu" builds fewer.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check "maturin>=1.7,<2" ziglang auditwheel
targets=${TARGETS:-"x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu"}
mkdir -p dist
installed=$(rustup target list --installed 2>/dev/null || true)
for target in $targets; do
  if [ -n "$installed" ] && ! grep -qx "$target" <<<"$installed"; then
    echo "build-release: the Rust target $target is not installed (rustup target add $target)" >&2
    exit 2
  fi
  started=$(date +%s)
  maturin build --release --locked --zig --target "$target" --compatibility manylinux2014 --out dist
  echo "$target: $(( $(date +%s) - started )) s"
done
maturin sdist --out dist
for wheel in dist/*.whl; do
  auditwheel show "$wheel" | sed -n '2,4p' | tr -s '\n' ' '
  echo " ($(du -k "$wheel" | cut -f1) KiB)"
done
ls -l dist
