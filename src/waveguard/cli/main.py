"""``waveguard``: the command line. Each command lives in its own module with a ``register``."""

from __future__ import annotations

import typer

from waveguard.cli import analyse as analyse_cmd
from waveguard.cli import breakglass as breakglass_cmd
from waveguard.cli import measure as measure_cmd

app = typer.Typer(
    name="waveguard", no_args_is_help=True, add_completion=False,
    help="Keep infrastructure rollouts from taking down Kubernetes control planes.",
)


@app.callback()
def main() -> None:
    """Keep infrastructure rollouts from taking down Kubernetes control planes."""


analyse_cmd.register(app)
breakglass_cmd.register(app)
measure_cmd.register(app)

try:  # the simulator registers itself once it exists
    from waveguard.cli import simulate as simulate_cmd
except ImportError:  # pragma: no cover - during bootstrap only
    simulate_cmd = None
if simulate_cmd is not None:
    simulate_cmd.register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
