"""Build the krew archive of ``kubectl waveguard`` reproducibly, and print its sha256.

    python plugins/build_archive.py [OUT.tar.gz]

The archive holds the one shim ``kubectl-waveguard`` (mode 0755, owner 0:0, mtime 0, gzip
without a timestamp), so the same shim always gives the same bytes and the sha256 in
plugins/waveguard.yaml stays valid; tests/test_packaging.py rebuilds it and compares.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHIM = HERE / "kubectl-waveguard"


def archive_bytes() -> bytes:
    """The .tar.gz of the shim, byte for byte the same on every machine."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        data = SHIM.read_bytes()
        info = tarfile.TarInfo("kubectl-waveguard")
        info.size, info.mode, info.mtime = len(data), 0o755, 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def main() -> None:
    data = archive_bytes()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_bytes(data)
    print(hashlib.sha256(data).hexdigest())


if __name__ == "__main__":
    main()
