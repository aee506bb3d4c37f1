"""Guarded progressive rollouts: plans, gates, the wave engine and its durable event log."""
