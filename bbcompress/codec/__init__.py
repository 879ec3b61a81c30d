"""ANS codecs as values (``core``), pixel laws, latent schemes, bits-back, exact networks.

This layer imports numpy, scipy.special (on first use, for latents) and constriction
only: nothing of torch, training, data loading or the command line (tests/test_layers.py
enforces it).
"""
