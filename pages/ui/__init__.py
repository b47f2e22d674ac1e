"""Streamlit helpers that several pages share. Streamlit's page discovery does not enter this package."""
