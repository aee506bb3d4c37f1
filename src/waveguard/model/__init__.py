"""Shared models: manifests, fleets, request profiles, APF and the one cost model.

Every other package depends on this one; it depends on nothing of waveguard's.
"""
