"""Print the corpus table: `analyse` on real agents against their truth.yaml (80 columns).

    python benchmarks/corpus.py [CORPUS]      # default: ../shared/inputs/realworld

Agent, truth verdict, waveguard's verdict, the deciding rule and why, then precision and recall
of the O(nodes²) verdict and the share of API-talking DaemonSets that fall back to the RBAC
upper bound. Exit 0 when every verdict matches truth.yaml, 1 otherwise, 2 on bad input.
Logic: src/waveguard/report/corpus.py (also behind tests/test_corpus.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from waveguard.model.errors import InputError
from waveguard.report.corpus import corpus_rows, render

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "inputs" / "realworld"


def main(argv: list[str]) -> int:
    corpus = Path(argv[0]) if argv else DEFAULT
    try:
        rows = corpus_rows(corpus)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(rows))
    return 0 if all(r.matches for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
