"""Talking to Amplitude's ingestion endpoints."""
