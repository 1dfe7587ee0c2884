"""How results are shown: one module per output, apart from the commands that produce them."""
