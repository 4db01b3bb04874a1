"""cxr-gan: a conditional GAN for chest X-rays and an honest test of whether its images help."""

__version__ = "0.1.0"
