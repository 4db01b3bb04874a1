"""Keras models of the study: the conditional GAN, the COVID-19 classifier and Grad-CAM."""
