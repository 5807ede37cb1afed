"""Scoring: request bodies to model input (codec, CSV), the model manager, the micro-batcher
and the service a route calls. Never imports api/ or FastAPI.
"""
