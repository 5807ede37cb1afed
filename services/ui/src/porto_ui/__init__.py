"""porto's web UI: a Streamlit app that talks only to the inference API."""

__version__ = "0.1.0"
