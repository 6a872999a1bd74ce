"""MLoop predictor: Serves online predictions and runs batch prediction jobs."""
