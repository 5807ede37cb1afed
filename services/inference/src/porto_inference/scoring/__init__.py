"""Scoring: what the routes call, with no HTTP in it — scoring records (``predict``), recording
feedback (``feedback``), the model catalogue (``catalog``) — and what they stand on: request
bodies (``payload``), model input (``codec``, ``csv_input``), the model manager, the
micro-batcher and the prediction log's entries. Never imports api/ or FastAPI.
"""
