"""waveguard: keep infrastructure rollouts from taking down Kubernetes control planes."""

__version__ = "0.1.0"
