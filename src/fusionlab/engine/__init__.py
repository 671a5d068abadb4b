"""Training and evaluation engine: the LightningModule, schedules, results and logging helpers."""
