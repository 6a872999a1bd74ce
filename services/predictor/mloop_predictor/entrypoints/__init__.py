"""What drives the predictor: its HTTP routes and its broadcast subscribers."""
