"""The reference simulator: plain sequential Python, the oracle of the differential tests, and the
scheduler's knowledge (belief, observation, decision step) that `scale_pl serve` decides with."""
