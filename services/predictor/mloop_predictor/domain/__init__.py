"""Pure parts of the predictor: which arm answers a record."""
