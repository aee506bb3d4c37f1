"""``analyse -o sarif``: a SARIF 2.1.0 log that GitHub code scanning accepts.

What code scanning requires and this log gives (docs.github.com, "SARIF support for code
scanning"): every rule with ``shortDescription``, ``fullDescription``, ``help`` (text and
markdown) and ``helpUri`` (:mod:`waveguard.report.rule_docs`); one fixed
``defaultConfiguration.level`` per rule, the same in every run, while each result carries the
level of its own finding (``error``, ``warning`` or ``note``); locations as URIs relative to the
base folder (the current folder, or ``--sarif-base``) with ``uriBaseId`` ``%SRCROOT%`` — paths
are made absolute without resolving symlinks, so a checkout behind a symlink still matches the
repository; ``relatedLocations`` at the configuration keys that decide a finding
(:mod:`waveguard.report.config_lines`); ``automationDetails.id`` ``CATEGORY/`` so runs of
different categories do not close each other's alerts.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from waveguard import __version__
from waveguard.analysis import AnalysisResult
from waveguard.model.findings import RULES, Finding
from waveguard.report.config_lines import ConfigLocator, KeyLine
from waveguard.report.rule_docs import RULE_DOCS, RULES_DOC_URL, help_markdown, help_text, help_uri

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
#: The uriBaseId every relative location names (the name GitHub's own tools use).
SRCROOT = "%SRCROOT%"
_LEVEL = {"info": "note", "warning": "warning", "error": "error"}
#: GitHub's ``problem.severity`` rule property for each SARIF level.
_PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "note": "recommendation"}


def sarif_rules() -> list[dict[str, Any]]:
    """One reporting descriptor per rule id of :data:`RULES`, sorted by id: the same in every run."""
    rules = []
    for rule_id in sorted(RULES):
        name, short = RULES[rule_id]
        doc = RULE_DOCS[rule_id]
        rules.append({
            "id": rule_id, "name": name,
            "shortDescription": {"text": short},
            "fullDescription": {"text": doc.when},
            "help": {"text": help_text(rule_id, name, short), "markdown": help_markdown(rule_id, name, short)},
            "helpUri": help_uri(rule_id),
            "defaultConfiguration": {"level": doc.level},
            "properties": {"tags": ["kubernetes", "control-plane", "reliability"],
                           "problem.severity": _PROBLEM_SEVERITY[doc.level], "precision": "high"},
        })
    return rules


def to_sarif(result: AnalysisResult, base: Path | None = None, *, files: list[str] | None = None,
             category: str = "waveguard") -> dict[str, Any]:
    """The SARIF log of ``result``: one result per finding. ``base``: the folder URIs are
    relative to (default: the current folder); ``files``: every manifest file of the input
    (where the configuration keys are looked up; default: the findings' files);
    ``category``: the run's ``automationDetails`` category."""
    root = _absolute(str(base)) if base is not None else current_folder()
    rules = sarif_rules()
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    locator = ConfigLocator(files if files is not None else [f.file for f in result.findings])
    profiles = {p.client: p for p in result.profiles}
    results = []
    for finding in result.findings:
        related = locator.related(finding, profiles.get(finding.workload))
        results.append({
            "ruleId": finding.rule, "ruleIndex": index[finding.rule], "level": _LEVEL[finding.severity],
            "message": {"text": f"{finding.workload}: {finding.message}. Fix: {finding.fix}"},
            "locations": [{"physicalLocation": _physical(finding.file, finding.line, root)}],
            **({"relatedLocations": [_related(i, place, root) for i, place in enumerate(related, start=1)]}
               if related else {}),
            "partialFingerprints": {"waveguardFinding/v1": _fingerprint(finding)},
            "properties": {"workload": finding.workload, "fix": finding.fix},
        })
    run = {
        "tool": {"driver": {"name": "waveguard", "version": __version__, "semanticVersion": __version__,
                            "informationUri": RULES_DOC_URL, "rules": rules}},
        "automationDetails": {"id": f"{category.strip('/')}/"},
        "originalUriBaseIds": {SRCROOT: {"uri": root.as_uri() + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def current_folder() -> Path:
    """The current folder as the shell names it: ``$PWD`` when it is this folder (through a
    symlink, as shells keep it), else the kernel's resolved ``getcwd()``."""
    pwd = os.environ.get("PWD", "")
    try:
        if os.path.isabs(pwd) and os.path.samefile(pwd, "."):
            return Path(os.path.normpath(pwd))
    except OSError:
        pass
    return Path(os.getcwd())


def _absolute(path: str) -> Path:
    """``path`` made absolute against :func:`current_folder`, symlinks kept."""
    return Path(os.path.normpath(os.path.join(current_folder(), path)))


def artifact_location(file: str, root: Path) -> dict[str, str]:
    """``{"uri", "uriBaseId"}`` relative to ``root`` (symlinks kept as written); a file outside
    ``root`` gets an absolute ``file:`` URI and no base; ``<stdin>`` stays a name."""
    absolute = _absolute(file)
    if file.startswith("<"):  # <stdin>: no file behind it
        return {"uri": quote(file), "uriBaseId": SRCROOT}
    try:
        relative = absolute.relative_to(root)
    except ValueError:
        return {"uri": absolute.as_uri()}
    return {"uri": quote(relative.as_posix()), "uriBaseId": SRCROOT}


def _physical(file: str, line: int, root: Path) -> dict[str, Any]:
    return {"artifactLocation": artifact_location(file, root), "region": {"startLine": max(line, 1)}}


def _related(number: int, place: KeyLine, root: Path) -> dict[str, Any]:
    return {"id": number, "physicalLocation": _physical(place.file, place.line, root),
            "message": {"text": f"decided here: {place.key}"}}


def _fingerprint(finding: Finding) -> str:
    """Stable across line moves: the rule and the workload (one finding per rule and workload)."""
    return hashlib.sha256(f"{finding.rule}\0{finding.workload}".encode()).hexdigest()[:32]
