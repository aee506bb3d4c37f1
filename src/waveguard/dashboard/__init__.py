"""The live rollout dashboard: a read-only local web page (Starlette, uvicorn, uPlot) over the
rollouts' state files (:mod:`waveguard.dashboard.app`)."""
