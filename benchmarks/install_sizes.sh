#!/bin/bash
# Install size of waveguard and of each extra (issue 15, "Figures"): builds the wheel, installs it
# into one fresh venv per extra and prints the venv's size over an empty venv's, in MB (du -sk).
#   bash benchmarks/install_sizes.sh [WORKDIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-$(mktemp -d)}
cd "$WORK"
python3 -m pip wheel -q --no-deps -w dist "$ROOT"
WHL=$(ls dist/waveguard-*.whl)
python3 -m venv empty
EMPTY=$(du -sk empty | cut -f1)
for extra in core sim measure report kubernetes all; do
  rm -rf "v_$extra"
  python3 -m venv "v_$extra"
  spec="$WHL"
  [ "$extra" != core ] && spec="$WHL[$extra]"
  "v_$extra/bin/pip" install -q --disable-pip-version-check "$spec"
  size=$(du -sk "v_$extra" | cut -f1)
  echo "$extra: $(( (size - EMPTY) / 1024 )) MB"
done
