"""VAE families: configuration, checkpoints and the shipped zoo (torch-free), the exact
coding networks (torch-free), and the torch modules training uses (``vae``)."""
