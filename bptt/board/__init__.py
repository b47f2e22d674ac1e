"""The class board: a lecturer creates a board (a short code), students post finished runs to it, and
everyone sees them overlaid (no Streamlit here).

- `entry`: what a post holds (a name, the run's settings, its final perplexity, a downsampled curve),
  validated and bounded in one place.
- `store`: boards and posts in a real database, SQLite by default or PostgreSQL by URL, behind one small
  interface (`BoardStore`) and the same SQL.
- `charts`: pure functions from posts to Plotly figures.
"""

from .entry import Entry, Limits, entry_from_history
from .store import Board, BoardError, BoardStore, Post, normalize_code, open_store, store_url

__all__ = [
    "Board",
    "BoardError",
    "BoardStore",
    "Entry",
    "Limits",
    "Post",
    "entry_from_history",
    "normalize_code",
    "open_store",
    "store_url",
]
