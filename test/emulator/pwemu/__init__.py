"""patchwork moto extension: ECS deployments that progress, real task containers, control endpoints."""
