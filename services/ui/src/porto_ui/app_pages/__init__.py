"""The UI's pages: Streamlit runs each file as a script when its page is shown."""
