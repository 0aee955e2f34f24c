"""Logger configured once; imported everywhere. Never log tokens, keys or raw advertising ids."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="postback-relay")
