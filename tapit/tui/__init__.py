"""The full-screen interface. The only package that imports Textual."""
