"""SSH to tray hosts (GPU workloads)."""
