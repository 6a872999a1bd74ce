"""MLoop trainer: Trains models from TrainModel and PrepareDataset commands."""
