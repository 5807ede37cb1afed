"""Tests of the Streamlit UI (services/ui)."""
