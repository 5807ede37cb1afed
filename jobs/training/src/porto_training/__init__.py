"""porto training job."""
