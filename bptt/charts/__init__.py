"""Plotly figures, one module per page (train, lab, compare, path, board)."""
