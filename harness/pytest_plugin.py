"""pytest plugin (placeholder until the plan collector lands)."""
