"""The Gradient lab's science (d2l §8.7): the lag decomposition of a gradient, the estimators
of truncated BPTT, their exact moments, and the reports the lab and the CLI share."""
