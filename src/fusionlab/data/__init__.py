"""Data: image I/O, dataset specs, paired datasets, transforms, the synthetic suite and the DataModule."""
