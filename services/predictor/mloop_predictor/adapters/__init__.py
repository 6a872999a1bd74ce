"""The predictor's I/O: the prediction log's publisher, the scenario look-up."""
