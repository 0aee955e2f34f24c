"""Pydantic models: what Amplitude accepts (`amplitude`) and our normalised postback (`postback`)."""
