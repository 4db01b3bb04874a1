"""Metrics that judge the GAN and the classifier."""
