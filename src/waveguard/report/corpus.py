"""The corpus figures: ``analyse`` on a folder of real agents against their ``truth.yaml``.

A corpus is a folder with one sub-folder per agent (its published install manifests) and a
``truth.yaml`` (``agents: {name: {verdict, why, evidence}}``; verdicts ``o_nodes2``,
``o_nodes2_warning``, ``node_local``, ``no_api``, ``o_nodes``, ``input``). For every agent,
waveguard's verdict class on the default fleet, whether it matches the truth (the rules of
tests/test_corpus.py), precision and recall of the O(nodes²) verdict, and the share of the
API-talking DaemonSets that fall back to the RBAC upper bound. Printed by
``python benchmarks/corpus.py [CORPUS]`` at 80 columns.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from waveguard.analysis import AnalysisResult, analyse
from waveguard.model.errors import InputError
from waveguard.model.findings import SEVERITY_RANK, Finding
from waveguard.model.yamlio import read_yaml_file

#: Truth verdicts that mean "grows as nodes²".
QUADRATIC = ("o_nodes2", "o_nodes2_warning")


@dataclass
class CorpusRow:
    """One agent: its truth, waveguard's verdict class, the deciding rule and why."""

    agent: str
    truth: str
    verdict: str  # o_nodes2 | o_nodes2_warning | unverified | node_local | o_nodes | no_api | input
    rule: str
    why: str
    matches: bool
    daemonsets: int = 0  # API-talking DaemonSets
    bounded_daemonsets: int = 0  # of which fall back to the RBAC upper bound


def _worst(findings: list[Finding]) -> str:
    return max((f.severity for f in findings), key=SEVERITY_RANK.__getitem__, default="info")


def classify(result: AnalysisResult) -> tuple[str, str, str]:
    """(verdict class, rule, why) of one analysis (see :class:`CorpusRow`)."""
    by_rule = {(f.rule, f.severity): f for f in reversed(result.findings)}
    for key, verdict in ((("WG101", "error"), "o_nodes2"), (("WG101", "warning"), "o_nodes2_warning")):
        if key in by_rule:
            return verdict, key[0], by_rule[key].message
    unverified = [f for f in result.findings if f.rule == "WG107" and f.severity != "info"]
    if unverified:
        message = unverified[0].message
        return "unverified", "WG107", "RBAC bound: " + message.split("Grants: ", 1)[-1] if "Grants: " in message \
            else message
    per_node = [p for p in result.profiles if p.per_node]
    if per_node:
        profile = per_node[0]
        sends = ", ".join(dict.fromkeys(rc.describe() for rc in profile.classes if not rc.leader_only))
        return "node_local", "-", f"{profile.agent}: each replica sends {sends or 'nothing'}"
    if result.profiles:
        wg111 = [f for f in result.findings if f.rule == "WG111"]
        return "o_nodes", "WG111" if wg111 else "-", wg111[0].message if wg111 else result.profiles[0].agent
    return "no_api", "-", "no workload sends requests to kube-apiserver"


def matches(truth: str, verdict: str, result: AnalysisResult | None) -> bool:
    """Whether waveguard's ``verdict`` is right for ``truth`` (tests/test_corpus.py's rules):
    o_nodes2: a WG101 error, or an unverified WG107 warning naming what grows; o_nodes2_warning:
    a WG101 warning and no error; node_local: no WG101 and no error; no_api: nothing above info;
    o_nodes: no WG101; input: exit 2 or a WG121 skip."""
    if truth == "input":
        return result is None or any(f.rule == "WG121" for f in result.findings)
    if result is None:
        return False
    findings = result.findings
    wg101 = [f for f in findings if f.rule == "WG101"]
    if truth == "o_nodes2":
        return verdict == "o_nodes2" or (verdict == "unverified" and "O(nodes²)" in _wg107_text(findings))
    if truth == "o_nodes2_warning":
        return verdict == "o_nodes2_warning" and _worst(findings) != "error"
    if truth == "node_local":
        return not wg101 and _worst(findings) != "error"
    if truth == "no_api":
        return _worst(findings) == "info"
    return not wg101  # o_nodes


def _wg107_text(findings: list[Finding]) -> str:
    return " ".join(f.message for f in findings if f.rule == "WG107" and f.severity != "info")


def corpus_row(folder: Path, truth: dict) -> tuple[CorpusRow, AnalysisResult | None]:
    """Analyse one agent folder on the default fleet and compare with its truth entry."""
    try:
        result: AnalysisResult | None = analyse([str(folder)])
    except InputError as exc:
        row = CorpusRow(folder.name, truth["verdict"], "input", "exit 2", str(exc), matches(truth["verdict"], "input", None))
        return row, None
    assert result is not None
    verdict, rule, why = classify(result)
    if any(f.rule == "WG121" for f in result.findings) and truth["verdict"] == "input":
        verdict, rule = "input", "WG121"
        why = next(f.message for f in result.findings if f.rule == "WG121")
    daemonsets = [p for p in result.profiles if p.per_node]
    return CorpusRow(folder.name, truth["verdict"], verdict, rule, why, matches(truth["verdict"], verdict, result),
                     len(daemonsets), sum(p.upper_bound for p in daemonsets)), result


def load_truth(corpus: Path) -> dict[str, dict]:
    """``truth.yaml``'s agents. Raises InputError when it is missing or malformed."""
    path = corpus / "truth.yaml"
    data = read_yaml_file(path, "corpus truth")[0]  # strict: duplicate keys are errors
    agents = data.get("agents") if isinstance(data, dict) else None
    if not isinstance(agents, dict):
        raise InputError(str(path), "no 'agents' mapping", hint="truth.yaml: agents: {name: {verdict: ...}}")
    return agents


def corpus_rows(corpus: Path) -> list[CorpusRow]:
    """One :class:`CorpusRow` per agent of ``truth.yaml``, in its order."""
    return [corpus_row(corpus / name, truth)[0] for name, truth in load_truth(corpus).items()]


def figures(rows: list[CorpusRow]) -> dict[str, float]:
    """Precision and recall of the confident O(nodes²) verdict (WG101), recall counting
    unverified WG107 questions too, and the share of API-talking DaemonSets on the RBAC bound."""
    flagged = [r for r in rows if r.verdict in QUADRATIC]
    truly = [r for r in rows if r.truth in QUADRATIC]
    asked = [r for r in truly if r.verdict in (*QUADRATIC, "unverified")]
    daemonsets = sum(r.daemonsets for r in rows)
    return {
        "precision": sum(r.truth in QUADRATIC for r in flagged) / len(flagged) if flagged else 1.0,
        "recall": sum(r.verdict in QUADRATIC for r in truly) / len(truly) if truly else 1.0,
        "recall_with_unverified": len(asked) / len(truly) if truly else 1.0,
        "rbac_bound_share": sum(r.bounded_daemonsets for r in rows) / daemonsets if daemonsets else 0.0,
        "matching": sum(r.matches for r in rows) / len(rows) if rows else 1.0,
    }


def render(rows: list[CorpusRow], width: int = 80) -> str:
    """The corpus table and its figures as plain text, ``width`` columns at most."""
    lines = [f"{'agent':<24} {'truth':<17} {'waveguard':<17} {'rule':<6} ok", "-" * min(width, 72)]
    for r in rows:
        lines.append(f"{r.agent[:24]:<24} {r.truth:<17} {r.verdict:<17} {r.rule:<6} {'yes' if r.matches else 'NO'}")
        lines += textwrap.wrap(r.why, width=width, initial_indent="    why: ", subsequent_indent="    ",
                               max_lines=3, placeholder=" …")
    f = figures(rows)
    lines += ["", f"verdicts matching truth.yaml: {f['matching']:.0%} of {len(rows)} agents",
              f"O(nodes²) verdict (WG101): precision {f['precision']:.0%}, recall {f['recall']:.0%}",
              f"  recall with the unverified WG107 questions: {f['recall_with_unverified']:.0%}",
              f"API-talking DaemonSets on the RBAC upper bound: {f['rbac_bound_share']:.0%}"]
    return "\n".join(lines)
