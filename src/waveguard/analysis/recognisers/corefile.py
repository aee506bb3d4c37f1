"""A small reader of CoreDNS's Corefile: server blocks, their plugins and the plugins' blocks.

The syntax (coredns.io/manual, "Configuration"): a server block is zone keys followed by
``{ ... }``; inside, one plugin per line, its arguments after its name, optionally followed by
its own ``{ ... }`` block of lines (``cache 30``, ``cache { success 9984 30 }``). ``#`` starts a
comment. Template placeholders (``__PILLAR__DNS__DOMAIN__``, ``CLUSTER_DOMAIN``) are kept as
written. Anything this reader cannot place is skipped: it never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Directive:
    """One line of a block: ``name args...`` and the lines of its own block (if any)."""

    name: str
    args: list[str] = field(default_factory=list)
    block: list[Directive] = field(default_factory=list)

    def find(self, name: str) -> Directive | None:
        """The first line of this directive's block called ``name``."""
        return next((d for d in self.block if d.name == name), None)


@dataclass
class ServerBlock:
    """A server block: its zone keys (``.:53``, ``cluster.local:53``) and its plugins."""

    keys: list[str]
    plugins: list[Directive] = field(default_factory=list)

    def plugin(self, name: str) -> Directive | None:
        return next((d for d in self.plugins if d.name == name), None)

    @property
    def zones(self) -> list[str]:
        """The keys without scheme and port: ``cluster.local``, ``.``, ``in-addr.arpa``."""
        out = []
        for key in self.keys:
            zone = key.split("://", 1)[-1]
            head, _, port = zone.rpartition(":")
            out.append((head if port.isdigit() else zone) or ".")
        return out


def _tokens(line: str) -> list[str]:
    """The words of one line, without its comment, with braces as words of their own."""
    text = line.split("#", 1)[0]
    return text.replace("{", " { ").replace("}", " } ").split()


def parse_corefile(text: str) -> list[ServerBlock]:
    """The server blocks of a Corefile (see the module doc)."""
    servers: list[ServerBlock] = []
    stack: list[list[Directive]] = []  # open blocks, innermost last
    pending: list[str] = []  # words of a line waiting for its "{" (keys on their own line)
    for line in text.splitlines():
        closed_server = False  # words after a server block's "}" on its line are not keys
        for word in _tokens(line) + ["\n"]:
            if closed_server and word != "\n":
                continue
            if word == "{":
                _open(pending, servers, stack)
                pending = []
            elif word == "}":
                _flush(pending, stack)
                pending = []
                if stack:
                    stack.pop()
                    closed_server = not stack
            elif word == "\n":
                if stack and pending:  # a plugin line without a block
                    _flush(pending, stack)
                    pending = []
            else:
                pending.append(word)
    return servers


def _open(words: list[str], servers: list[ServerBlock], stack: list[list[Directive]]) -> None:
    """A ``{``: a new server block at the top level, else the block of the plugin on this line
    (or of the line before, when the brace stands alone)."""
    if not stack:
        server = ServerBlock(keys=words or ["."])
        servers.append(server)
        stack.append(server.plugins)
        return
    if words:
        directive = Directive(name=words[0], args=words[1:])
        stack[-1].append(directive)
    elif stack[-1]:
        directive = stack[-1][-1]
    else:
        directive = Directive(name="")
    stack.append(directive.block)


def _flush(words: list[str], stack: list[list[Directive]]) -> None:
    if words and stack:
        stack[-1].append(Directive(name=words[0], args=words[1:]))


