"""Theme: latent (see kexue/articles.py)."""
