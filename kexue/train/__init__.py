"""Theme: train (see kexue/articles.py)."""
