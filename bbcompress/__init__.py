"""bbcompress: lossless image compression by bits-back ANS over a VAE."""
__version__ = "0.4.0"
