"""Theme: bert (see kexue/articles.py)."""
