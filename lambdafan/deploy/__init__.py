"""Deploying a fleet: bundle, policies, resource model, plan, apply, destroy."""
