"""Neural models (torch only): mel front end, audio encoder, EQ VAE, checkpoints."""
